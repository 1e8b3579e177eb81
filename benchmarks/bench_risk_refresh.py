"""The daily refresh of risk flags at scale.

    .venv/bin/python benchmarks/bench_risk_refresh.py [--database-url URL] [--apprentices N] [--runs N]

Generates the benchmark programme (benchmarks/apprenticeship_data.py: by default 10,000 apprentices, 40,000
placements and 500,000 off-the-job entries), then times ``risk.refresh_flags()`` over all of it: the median
of ``--runs`` refreshes (each replacing the flags of the one before, then committed), the SQL statements
each took (must not grow with the data), and the flags found by rule. Also times a scoped refresh of one
apprenticeship. Target: 5 s or less for a full refresh on SQLite and on PostgreSQL.
Uses a throwaway SQLite file (removed afterwards) unless --database-url is given (its tables are dropped and
created from empty).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import event, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_SECONDS = 5.0


class StatementCounter:
    def __init__(self, engine):
        self.engine = engine
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *args):
        self.count += 1

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._count)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--apprentices", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pathways-bench-risk-"))
    url = options.database_url or f"sqlite:///{workdir / 'bench.db'}"

    from app import create_app
    from app.extensions import db

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, EVIDENCE_DIR=str(workdir))
    try:
        with app.app_context():
            measure(options)
            db.session.remove()
            db.engine.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure(options) -> None:
    from flask_migrate import upgrade

    from app.extensions import db
    from app.models import RiskFlag
    from app.services import organisations, risk
    from benchmarks import apprenticeship_data

    if options.database_url:
        db.drop_all()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    upgrade()
    organisations.load_reference_organisations()
    db.session.commit()

    started = time.perf_counter()
    print(f"Generating {options.apprentices} apprentices on {db.engine.dialect.name} ...", flush=True)
    data = apprenticeship_data.generate(apprentices=options.apprentices, progress=lambda m: print(m, flush=True))
    print(f"  generated in {time.perf_counter() - started:.0f} s")

    times, statements, counts = [], [], {}
    for _ in range(options.runs):
        counter = StatementCounter(db.engine)
        started = time.perf_counter()
        counts = risk.refresh_flags()
        db.session.commit()
        times.append(time.perf_counter() - started)
        counter.close()
        statements.append(counter.count)
        db.session.expunge_all()

    by_rule = Counter()
    for code, rating, n in db.session.execute(
            select(RiskFlag.code, RiskFlag.rating, func.count()).group_by(RiskFlag.code, RiskFlag.rating)):
        by_rule[(code, rating.value)] = n

    one = data["apprenticeship_ids"][0]
    scoped = []
    for _ in range(options.runs):
        started = time.perf_counter()
        risk.refresh_flags(apprenticeship_ids=[one])
        db.session.commit()
        scoped.append((time.perf_counter() - started) * 1000)

    median = statistics.median(times)
    print(f"\nFull refresh on {db.engine.dialect.name} ({counts['apprenticeships']} apprenticeships checked):")
    print(f"  median {median:.2f} s of {options.runs} (each: {', '.join(f'{t:.2f} s' for t in times)}); "
          f"target {TARGET_SECONDS:.0f} s: {'met' if median <= TARGET_SECONDS else 'MISSED'}")
    print(f"  SQL statements per refresh: {', '.join(map(str, statements))}")
    print(f"  flags: {counts['flags']} ({counts['red']} red, {counts['amber']} amber)")
    for (code, rating), n in sorted(by_rule.items()):
        print(f"    {code:28} {rating:6} {n:6d}")
    print(f"Scoped refresh of one apprenticeship: median {statistics.median(scoped):.1f} ms")


if __name__ == "__main__":
    main()
