"""Apprenticeship pages and the off-the-job totals at scale.

    .venv/bin/python benchmarks/bench_apprenticeships.py [--database-url URL] [--apprentices N] [--requests N]

Measures, with a handful of records and again after generating 10,000 apprentices, 40,000 placements
and 500,000 off-the-job entries (benchmarks/apprenticeship_data.py):
- the apprentice's own record (overview) and off-the-job pages, and the supervisor's approval queue:
  SQL statements per request (must not grow with the data) and server time p50 / p95 over repeated
  requests, beside a bare route (/healthz) measured in the same run, with the ratio;
- the off-the-job totals query for one apprenticeship, and for all 10,000 at once.
Uses a throwaway SQLite file unless --database-url is given (its tables are created from empty).
"""

from __future__ import annotations

import argparse
import contextvars
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import event, insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PASSWORD = "quiet-river-lantern-ochre"  # noqa: S105 - a benchmark account on a throwaway database


class QueryCounter:
    def __init__(self, engine):
        self.engine = engine
        self.count = 0
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement, *args):
        self.count += 1
        self.statements.append(" ".join(statement.split())[:160])

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._count)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--apprentices", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=60)
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pathways-bench-"))
    url = options.database_url or f"sqlite:///{workdir / 'bench.db'}"

    from flask.testing import FlaskClient
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.models import (
        ActivityType,
        EnglishMaths,
        KsbProgressLevel,
        OtjActivity,
        OtjStatus,
        Placement,
        Rag,
        Role,
        StandardVersion,
    )
    from app.models.apprenticeships import otj_activity_ksb
    from app.models.types import utcnow
    from app.services import accounts, apprenticeship_rules, clock, organisations, otj_totals, progress_reviews
    from app.services import apprenticeships as apprenticeship_service
    from app.services import placements as placement_service
    from benchmarks import apprenticeship_data

    class IsolatedClient(FlaskClient):
        """Each request in an application context of its own, as under a real server."""

        def open(self, *args, **kwargs):
            return contextvars.Context().run(super().open, *args, **kwargs)

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, WTF_CSRF_ENABLED=False, EVIDENCE_DIR=str(workdir),
                     ARGON2_TIME_COST=1, ARGON2_MEMORY_KIB=1024, ARGON2_PARALLELISM=1)
    app.test_client_class = IsolatedClient
    logging.getLogger("pathways.request").setLevel(logging.WARNING)
    with app.app_context():
        if options.database_url:
            db.drop_all()
            with db.engine.begin() as connection:
                connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade()
        organisations.load_reference_organisations()
        db.session.commit()
        hackney = accounts.organisation_by_code("E09000012")

        def person(email, role, **extra):
            return accounts.create_person(None, email=email, name=email.split("@")[0].title(), organisation=hackney,
                                          roles=[role], password=PASSWORD, **extra)

        coordinator = person("bench.coordinator@example.org", Role.COORDINATOR, scope=[])
        apprentice = person("bench.apprentice@example.org", Role.APPRENTICE)
        supervisor = person("bench.supervisor@example.org", Role.SUPERVISOR)
        db.session.commit()
        from app.models import Ksb, KsbKind, Standard

        standard = Standard(reference="ST0116", title="Software developer", level=4, route="Digital")
        version = StandardVersion(standard=standard, version="1.1", lars_code=2, typical_duration_months=24,
                                  otj_minimum_hours=400, epa_grades=["fail", "pass", "distinction"])
        for n in range(1, 11):
            version.ksbs.append(Ksb(code=f"K{n}", kind=KsbKind.KNOWLEDGE, position=n, title=f"Knowledge {n}"))
        db.session.add(version)
        db.session.commit()
        starts = apprenticeship_rules.add_months(clock.today(), -12)
        apprenticeship = apprenticeship_service.create_apprenticeship(
            coordinator, apprentice=apprentice, standard_version=version, employer=hackney,
            training_provider="Bench Training", starts_on=starts,
            planned_end_on=apprenticeship_rules.add_months(starts, 24),
            weekly_hours=Decimal(37), english_maths=EnglishMaths.ACHIEVED)
        db.session.commit()
        team = organisations.add_team(None, hackney, "Bench digital team")
        db.session.commit()
        placement = placement_service.add_placement(
            coordinator, apprenticeship, team=team, supervisor=supervisor, starts_on=starts,
            ends_on=clock.today() + timedelta(days=90), objectives="Benchmark placement", ksb_ids=[])
        db.session.commit()
        ksb_id = version.ksbs[0].id

        def add_entries(apprenticeship_id, placement_id, count, status):
            now = utcnow()
            first = (db.session.scalar(select(OtjActivity.id).order_by(OtjActivity.id.desc()).limit(1)) or 0) + 1
            rows = [{"id": first + n, "apprenticeship_id": apprenticeship_id, "placement_id": placement_id,
                     "occurred_on": clock.today() - timedelta(days=1 + n % 300), "minutes": 90,
                     "activity_type": ActivityType.ONLINE_LEARNING, "description": f"Bench entry {first + n}",
                     "status": status, "logged_by_id": apprentice.id, "logged_at": now} for n in range(count)]
            db.session.execute(insert(OtjActivity), rows)
            db.session.execute(insert(otj_activity_ksb), [{"otj_activity_id": r["id"], "ksb_id": ksb_id}
                                                           for r in rows])
            db.session.commit()

        add_entries(apprenticeship.id, placement.id, 5, OtjStatus.APPROVED)
        add_entries(apprenticeship.id, placement.id, 3, OtjStatus.SUBMITTED)
        # A review held and waiting for the supervisor's signature, so every section of the pages has content.
        first_review = apprenticeship.reviews[0]
        progress_reviews.record_review(
            coordinator, first_review, held_on=first_review.due_on, rag=Rag.GREEN, previous_actions=None,
            concerns=None, actions="Keep going",
            ksb_progress={k.id: KsbProgressLevel.IN_PROGRESS for k in version.ksbs})
        db.session.commit()

        pages = {
            "bare route (/healthz)": (None, "/healthz"),
            "apprentice: record overview": (apprentice, f"/apprenticeships/{apprenticeship.id}"),
            "apprentice: off-the-job page": (apprentice, f"/apprenticeships/{apprenticeship.id}/off-the-job"),
            "supervisor: approval queue": (supervisor, "/supervising"),
        }

        def measure(label: str) -> dict[str, tuple[int, float, float]]:
            clients = {}
            results = {}
            for name, (who, path) in pages.items():
                if who is not None and who.email not in clients:
                    client = app.test_client()
                    response = client.post("/sign-in", data={"email": who.email, "password": PASSWORD})
                    assert response.status_code == 302, response.status_code
                    clients[who.email] = client
                client = clients[who.email] if who is not None else app.test_client()
                assert client.get(path).status_code == 200, path  # warm
                counter = QueryCounter(db.engine)
                times = []
                for _ in range(options.requests):
                    started = time.perf_counter()
                    response = client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, (path, response.status_code)
                counter.close()
                if os.environ.get("BENCH_SHOW_SQL") and os.environ["BENCH_SHOW_SQL"] in name:
                    print("\n".join(counter.statements[:counter.count // options.requests]))
                results[name] = (counter.count // options.requests, statistics.median(times),
                                 percentile(times, 0.95))
            bare = results["bare route (/healthz)"][1]
            print(f"\n{label}")
            for name, (queries, p50, p95) in results.items():
                print(f"  {name:32} {queries:3d} queries  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  "
                      f"x{p50 / bare:5.1f} the bare route")
            return results

        small = measure("With one apprenticeship")

        started = time.perf_counter()
        print(f"\nGenerating {options.apprentices} apprentices ...")
        data = apprenticeship_data.generate(apprentices=options.apprentices,
                                            progress=lambda m: print(m, flush=True))
        print(f"  generated in {time.perf_counter() - started:.0f} s")
        # The bench apprentice gets a long history; the bench supervisor 20 more apprentices with waiting hours.
        add_entries(apprenticeship.id, placement.id, 400, OtjStatus.APPROVED)
        current = db.session.execute(
            select(Placement.id, Placement.apprenticeship_id)
            .where(Placement.starts_on <= clock.today(), Placement.ends_on >= clock.today())
            .limit(20)).all()
        db.session.execute(update(Placement).where(Placement.id.in_([p for p, _ in current]))
                           .values(supervisor_id=supervisor.id))
        db.session.commit()
        for placement_id, apprenticeship_id in current:
            add_entries(apprenticeship_id, placement_id, 100, OtjStatus.SUBMITTED)
        large = measure(f"With {options.apprentices + 1} apprenticeships and "
                        f"{db.session.query(OtjActivity).count()} off-the-job entries")

        print("\nQuery counts (must not grow with the data):")
        for name in pages:
            verdict = "constant" if small[name][0] == large[name][0] else "GROWS"
            print(f"  {name:32} {small[name][0]} -> {large[name][0]} ({verdict})")

        one, many = [], []
        ids = data["apprenticeship_ids"]
        for _ in range(30):
            started = time.perf_counter()
            otj_totals.totals(apprenticeship)
            one.append((time.perf_counter() - started) * 1000)
        for _ in range(5):
            started = time.perf_counter()
            otj_totals.approved_hours_by_apprenticeship(ids)
            many.append((time.perf_counter() - started) * 1000)
        print("\nOff-the-job totals query:")
        print(f"  one apprenticeship (408 entries)  p50 {statistics.median(one):7.2f} ms  "
              f"p95 {percentile(one, .95):7.2f} ms")
        print(f"  all {len(ids)} apprenticeships      p50 {statistics.median(many):7.1f} ms  "
              f"p95 {percentile(many, .95):7.1f} ms")


if __name__ == "__main__":
    main()
