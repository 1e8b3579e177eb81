"""The intake review page under load, beside a bare route of the same server.

    .venv/bin/python benchmarks/bench_cohort_review.py [--database-url URL] [--apprentices N] [--intakes N]
        [--seconds S] [--clients C] [--port P]

Generates 10,000 apprentices, 40,000 placements and 500,000 off-the-job entries
(benchmarks/apprenticeship_data.py), puts them into ``--intakes`` intakes (default 4, so 2,500 apprentices an
intake), works the risk flags out for everyone (``risk.refresh_flags``), then:

- counts the SQL statements of the intake review (first page, a later page, a filtered and a sorted view, and
  an intake of three apprentices): the count must be the same whatever the number of rows;
- serves Pathways with gunicorn (2 sync workers, production settings) and drives it with 8 concurrent clients
  (a thread pool over http.client, a new connection per request as sync workers close them) for ``--seconds``
  each: the bare route ``/healthz``, then the intake review (50 rows a page, with its pictures) signed in as a
  programme-wide coordinator, then as a borough coordinator, then ``/healthz`` again; and reports requests a
  second, p50 and p95 latency, and the ratio of the page's throughput to the bare route's (target 0.10 or more).

Uses a throwaway SQLite file unless --database-url is given; a given database's tables are dropped and rebuilt
first, so use a throwaway one (e.g. ``createdb bench_review``). ``--reuse`` measures a database an earlier run
built (no generation, no refresh); ``--profile N`` runs N requests of the page under cProfile in-process first
and prints where the time goes.
"""

from __future__ import annotations

import argparse
import contextvars
import logging
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import event, select, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.serving import request, serve, sign_in  # noqa: E402

PASSWORD = "quiet-river-lantern-ochre"  # noqa: S105 - a benchmark account on a throwaway database


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# Building the data ------------------------------------------------------------------------------------------------


def build(url: str, options) -> dict:
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.models import Apprenticeship, Intake, Role
    from app.services import accounts, organisations, risk
    from benchmarks import apprenticeship_data

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, WTF_CSRF_ENABLED=False)
    logging.getLogger("pathways.request").setLevel(logging.WARNING)
    if options.reuse:
        return _measured(app, options)
    with app.app_context():
        if options.database_url:
            db.drop_all()
            with db.engine.begin() as connection:
                connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade()
        organisations.load_reference_organisations()
        db.session.commit()
        hackney = accounts.organisation_by_code("E09000012")
        accounts.create_person(None, email="bench.wide@example.org", name="Bench Wide", organisation=hackney,
                               roles=[Role.COORDINATOR], scope=[], password=PASSWORD)
        accounts.create_person(None, email="bench.hackney@example.org", name="Bench Hackney",
                               organisation=hackney, roles=[Role.COORDINATOR], scope=[hackney],
                               password=PASSWORD)
        db.session.commit()
        started = time.perf_counter()
        print(f"Generating {options.apprentices} apprentices ...", flush=True)
        data = apprenticeship_data.generate(apprentices=options.apprentices, progress=lambda m: print(m, flush=True))
        print(f"  generated in {time.perf_counter() - started:.0f} s", flush=True)

        # Gather everyone into a few intakes (the generator makes one a month); a small one for the count check.
        ids = sorted(data["apprenticeship_ids"])
        intake_ids = list(db.session.scalars(select(Intake.id).order_by(Intake.starts_on)))[: options.intakes]
        for n, intake_id in enumerate(intake_ids):
            chosen = ids[n::len(intake_ids)]
            for i in range(0, len(chosen), 5000):
                db.session.execute(update(Apprenticeship).where(Apprenticeship.id.in_(chosen[i:i + 5000]))
                                   .values(intake_id=intake_id))
        small = db.session.scalar(select(Intake.id).where(Intake.id.not_in(intake_ids)).order_by(Intake.id))
        db.session.execute(update(Apprenticeship).where(Apprenticeship.id.in_(ids[:3])).values(intake_id=small))
        db.session.commit()
        big = intake_ids[-1]
        sizes = {i: db.session.query(Apprenticeship).filter_by(intake_id=i).count() for i in (big, small)}
        print(f"  {len(intake_ids)} intakes; the one measured has {sizes[big]} apprentices", flush=True)

        started = time.perf_counter()
        counts = risk.refresh_flags()
        db.session.commit()
        print(f"  flags worked out in {time.perf_counter() - started:.1f} s: {counts}", flush=True)
        with db.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()

    return _measured(app, options)


def _measured(app, options) -> dict:
    from app.extensions import db
    from app.models import Apprenticeship, Intake

    with app.app_context():
        intake_ids = list(db.session.scalars(select(Intake.id).order_by(Intake.starts_on)))[: options.intakes]
        big = intake_ids[-1]
        small = db.session.scalar(select(Intake.id).where(Intake.id.not_in(intake_ids)).order_by(Intake.id))
        size = db.session.query(Apprenticeship).filter_by(intake_id=big).count()
        statements = count_statements(app, "bench.wide@example.org", big, small)
        borough_rows = len_rows(app, "bench.hackney@example.org", big)
        if options.profile:
            profile(app, "bench.wide@example.org", f"/intakes/{big}/review", options.profile)
    return {"intake": big, "size": size, "statements": statements, "borough_rows": borough_rows,
            "wide": "bench.wide@example.org", "borough": "bench.hackney@example.org"}


def profile(app, email: str, path: str, requests: int) -> None:
    """``requests`` requests of ``path`` under cProfile, with the time of each and the page's size."""
    import cProfile
    import pstats

    client = _client(app, email)
    size = len(client.get(path).get_data())
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(requests):
        assert client.get(path).status_code == 200
    profiler.disable()
    each = (time.perf_counter() - started) * 1000 / requests
    print(f"\nProfile of {path}: {each:.1f} ms a request (under the profiler), {size / 1024:.0f} KB a page")
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(35)
    stats.sort_stats("tottime").print_stats(20)


def _client(app, email):
    from flask.testing import FlaskClient

    class IsolatedClient(FlaskClient):
        """Each request in an application context of its own, as under a real server."""

        def open(self, *args, **kwargs):
            return contextvars.Context().run(super().open, *args, **kwargs)

    client = IsolatedClient(app, app.response_class, use_cookies=True)
    response = client.post("/sign-in", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    return client


def count_statements(app, email: str, big: int, small: int) -> dict[str, int]:
    from app.extensions import db

    client = _client(app, email)
    paths = {
        "intake review, first page": f"/intakes/{big}/review",
        "intake review, page 20": f"/intakes/{big}/review?page=20",
        "intake review, filtered (red) and by name": f"/intakes/{big}/review?rating=red&sort=name",
        "intake review, sorted by progress": f"/intakes/{big}/review?sort=progress",
        "intake review of 3 apprentices": f"/intakes/{small}/review",
    }
    found = {}
    for name, path in paths.items():
        assert client.get(path).status_code == 200, path
        seen = []

        def count(*_args, seen=seen):
            seen.append(1)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert client.get(path).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        found[name] = len(seen)
    return found


def len_rows(app, email: str, intake: int) -> str:
    client = _client(app, email)
    text = client.get(f"/intakes/{intake}/review").get_data(as_text=True)
    match = re.search(r'id="result-count">([^<]+)<', text)
    return match.group(1) if match else "?"


# Serving and loading --------------------------------------------------------------------------------------------


def load(port: int, path: str, cookie: str, *, seconds: float, clients: int) -> dict:
    stop = time.perf_counter() + seconds
    latencies: list[float] = []
    failures = []
    lock = threading.Lock()

    def client():
        mine = []
        while time.perf_counter() < stop:
            started = time.perf_counter()
            status, _body, _headers = request(port, path, cookie=cookie)
            mine.append((time.perf_counter() - started) * 1000)
            if status != 200:
                failures.append(status)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    elapsed = time.perf_counter() - started
    assert not failures, f"{path}: {len(failures)} failed requests, e.g. {failures[:3]}"
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50": statistics.median(latencies),
            "p95": percentile(latencies, 0.95)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--apprentices", type=int, default=10_000)
    parser.add_argument("--intakes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--reuse", action="store_true", help="measure the database an earlier run built")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="profile N requests in-process")
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pathways-bench-review-"))
    url = options.database_url or f"sqlite:///{workdir / 'bench.db'}"
    print(f"Database: {url}", flush=True)

    built = build(url, options)
    print("\nSQL statements per request of the intake review (must not depend on the rows):")
    for name, count in built["statements"].items():
        print(f"  {name:45} {count}")
    verdict = "constant" if len(set(built["statements"].values())) == 1 else "NOT CONSTANT"
    print(f"  -> {verdict}")

    server = serve(url, options.port)
    try:
        wide, borough = (sign_in(options.port, built[who], PASSWORD) for who in ("wide", "borough"))
        page = f"/intakes/{built['intake']}/review"
        for cookie in (wide, borough):  # warm both workers
            for _ in range(4):
                assert request(options.port, page, cookie=cookie)[0] == 200
        runs = [
            ("bare route (/healthz)", "/healthz", ""),
            (f"intake review, programme-wide ({built['size']} apprentices)", page, wide),
            (f"intake review, borough coordinator ({built['borough_rows']})", page, borough),
            ("bare route again (/healthz)", "/healthz", ""),
        ]
        results = []
        for name, path, cookie in runs:
            print(f"\nLoading {name} for {options.seconds:.0f} s with {options.clients} clients ...", flush=True)
            results.append((name, load(options.port, path, cookie, seconds=options.seconds,
                                       clients=options.clients)))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    bare = statistics.mean([results[0][1]["rps"], results[-1][1]["rps"]])
    print(f"\nThroughput with gunicorn (2 sync workers), {options.clients} concurrent clients, "
          f"{options.seconds:.0f} s each, database {url.split(':', 1)[0]}:")
    print(f"  {'':60} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'ratio':>6}")
    for name, result in results:
        print(f"  {name:60} {result['rps']:8.1f} {result['p50']:8.1f} {result['p95']:8.1f} "
              f"{result['rps'] / bare:6.2f}")
    page_ratio = results[1][1]["rps"] / bare
    print(f"\nRatio of the intake review to the bare route: {page_ratio:.2f} (target 0.10 or more: "
          f"{'met' if page_ratio >= 0.10 else 'NOT met'})")


if __name__ == "__main__":
    main()
