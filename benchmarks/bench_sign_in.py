"""Signing in under load, at two argon2id costs: RFC 9106's second recommended option (64 MiB, 3 passes, 4 lanes)
and OWASP's minimum profile (19 MiB, 2 passes, 1 lane, Pathways' default).

    .venv/bin/python benchmarks/bench_sign_in.py [--seconds S] [--clients C] [--people N] [--port P]

For each cost: a throwaway SQLite database with N learners whose passwords were hashed at that cost, served by
gunicorn (2 sync workers, production settings, the cost set through ARGON2_* variables). Then, for ``--seconds``
each:
- sign-ins alone: ``--clients`` clients each signing in over and over (the form, then posting it), round-robin
  over the learners;
- a mixed load: the same sign-ins beside as many clients reading the learner's home page while signed in, as
  when a whole cohort arrives for a session at once.
Reports sign-ins a second with p50 and p95 of the whole sign-in (form and post), the home page's p50 and p95
beside them, and each worker's peak memory.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.serving import request, serve  # noqa: E402

PASSWORD = "quiet-river-lantern-ochre"  # noqa: S105 - benchmark accounts on a throwaway database
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PROFILES = {
    "RFC 9106 (64 MiB, t=3, p=4)": {"ARGON2_MEMORY_KIB": 65536, "ARGON2_TIME_COST": 3, "ARGON2_PARALLELISM": 4},
    "OWASP minimum (19 MiB, t=2, p=1)": {"ARGON2_MEMORY_KIB": 19456, "ARGON2_TIME_COST": 2, "ARGON2_PARALLELISM": 1},
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def build(url: str, people: int, cost: dict) -> list[str]:
    """``people`` learners with passwords hashed at ``cost``; their emails."""
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.models import Role
    from app.services import accounts, organisations

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, **cost)
    with app.app_context():
        upgrade()
        organisations.load_reference_organisations()
        db.session.commit()
        hackney = accounts.organisation_by_code("E09000012")
        emails = [f"learner{n}@example.org" for n in range(people)]
        for n, email in enumerate(emails):
            accounts.create_person(None, email=email, name=f"Learner {n}", organisation=hackney,
                                   roles=[Role.LEARNER], scope=[], password=PASSWORD)
        db.session.commit()
    return emails


def sign_in(port: int, email: str) -> str:
    status, body, headers = request(port, "/sign-in")
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    form = urllib.parse.urlencode({"csrf_token": CSRF.search(body.decode()).group(1), "email": email,
                                   "password": PASSWORD})
    status, _body, headers = request(port, "/sign-in", method="POST", body=form, cookie=cookie)
    assert status == 302 and headers["Location"] == "/", (status, headers.get("Location"))
    return headers["Set-Cookie"].split(";", 1)[0]


def drive(port: int, emails: list[str], *, seconds: float, signing: int, reading: int, cookie: str) -> dict:
    stop = time.perf_counter() + seconds
    results: dict[str, list[float]] = {"sign-in": [], "home": []}
    lock = threading.Lock()
    turn = iter(range(10**9))

    def signer():
        mine = []
        while time.perf_counter() < stop:
            email = emails[next(turn) % len(emails)]
            started = time.perf_counter()
            sign_in(port, email)
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            results["sign-in"].extend(mine)

    def reader():
        mine = []
        while time.perf_counter() < stop:
            started = time.perf_counter()
            status, _body, _headers = request(port, "/", cookie=cookie)
            assert status == 200, status
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            results["home"].extend(mine)

    started = time.perf_counter()
    with ThreadPoolExecutor(signing + reading) as pool:
        futures = [pool.submit(signer) for _ in range(signing)] + [pool.submit(reader) for _ in range(reading)]
        for future in futures:
            future.result()
    elapsed = time.perf_counter() - started
    return {kind: {"count": len(values), "rate": len(values) / elapsed,
                   "p50": statistics.median(values) if values else 0.0,
                   "p95": percentile(values, 0.95) if values else 0.0}
            for kind, values in results.items()}


def worker_memory(server) -> list[float]:
    """Peak resident memory (MiB) of each gunicorn worker."""
    peaks = []
    for child in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split():
        status = Path(f"/proc/{child}/status").read_text()
        peaks.append(int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024)
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--port", type=int, default=8775)
    options = parser.parse_args()

    rows = []
    for name, cost in PROFILES.items():
        workdir = Path(tempfile.mkdtemp(prefix="pathways-bench-sign-in-"))
        url = f"sqlite:///{workdir / 'bench.db'}"
        print(f"{name}: {options.people} learners in {url}", flush=True)
        emails = build(url, options.people, cost)
        os.environ.update({key: str(value) for key, value in cost.items()})  # the server reads its cost from these
        server = serve(url, options.port)
        try:
            reader_cookie = sign_in(options.port, emails[0])
            for email in emails[:4]:  # warm both workers
                sign_in(options.port, email)
            alone = drive(options.port, emails, seconds=options.seconds, signing=options.clients, reading=0,
                          cookie=reader_cookie)
            mixed = drive(options.port, emails, seconds=options.seconds, signing=options.clients,
                          reading=options.clients, cookie=reader_cookie)
            memory = worker_memory(server)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        rows.append((name, alone, mixed, memory))

    print(f"\nSigning in with gunicorn (2 sync workers), {options.clients} clients signing in "
          f"(and {options.clients} reading the home page in the mixed load), {options.seconds:.0f} s each:")
    print(f"  {'argon2id cost':34} {'alone: /s':>9} {'p50 ms':>7} {'p95 ms':>7} │ {'mixed: /s':>9} {'p50 ms':>7} "
          f"{'p95 ms':>7} │ {'home p50':>8} {'home p95':>8} │ {'worker peak MiB':>15}")
    for name, alone, mixed, memory in rows:
        signing, home = alone["sign-in"], mixed["home"]
        print(f"  {name:34} {signing['rate']:9.1f} {signing['p50']:7.0f} {signing['p95']:7.0f} │ "
              f"{mixed['sign-in']['rate']:9.1f} {mixed['sign-in']['p50']:7.0f} {mixed['sign-in']['p95']:7.0f} │ "
              f"{home['p50']:8.0f} {home['p95']:8.0f} │ {', '.join(f'{m:.0f}' for m in memory):>15}")


if __name__ == "__main__":
    main()
