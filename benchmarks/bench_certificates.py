"""Certificates: a single issue, a bulk issue, and the bare WeasyPrint render of the same template.

    .venv/bin/python benchmarks/bench_certificates.py [--database-url URL] [--bulk 500] [--processes 2]

Creates one course with runs of completed enrolments (bulk inserts), then measures in one run:
(a) the yardstick: ``render_draft`` of a prepared course certificate (no database): p50 / p95 over 50 renders
    in this process, and the throughput of 500 renders in worker processes;
(b) a single issue (``issue_for_enrolment``, commit included): p50 / p95 over 50 (target p50 <= 80 ms);
(c) a bulk issue of 500 (``issue_batch`` in worker processes): certificates/s (target >= 25/s and >= 0.8 of
    the yardstick's throughput, measured just before);
(d) memory: this process's RSS every 100 of 1,000 single issues (flat: <= 5 MiB growth after the first 200).
Uses a throwaway SQLite file unless --database-url is given (its tables are dropped and created afresh).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import event, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MIB = 1024 * 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def rss_bytes() -> int:
    """This process's resident set size now (not the peak)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cpu_seconds() -> float:
    """CPU time used by this process so far (not its workers)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class QueryCounter:
    def __init__(self, engine):
        self.engine = engine
        self.count = 0
        self.kinds: Counter[str] = Counter()
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement, *args):
        self.count += 1
        self.kinds[statement.split(None, 1)[0].upper()] += 1

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._count)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--bulk", type=int, default=500, help="certificates in the bulk issue")
    parser.add_argument("--singles", type=int, default=50, help="single issues timed")
    parser.add_argument("--memory-issues", type=int, default=1000, help="single issues watched for memory")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--profile", choices=["single", "bulk"], help="profile one measurement (cProfile)")
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pathways-bench-"))
    url = options.database_url or f"sqlite:///{workdir / 'bench.db'}"

    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.models import Course, CourseRun, Enrolment, EnrolmentStatus, Person, RunKind
    from app.models.types import utcnow
    from app.services import accounts, certificate_batches, certificates, organisations

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, ARGON2_TIME_COST=1, ARGON2_MEMORY_KIB=1024,
                     ARGON2_PARALLELISM=1)
    logging.getLogger("pathways").setLevel(logging.WARNING)
    rows: list[tuple[str, str, str, bool | None]] = []  # (measure, figure, target, passed)

    with app.app_context():
        if options.database_url:
            db.drop_all()
            with db.engine.begin() as connection:
                connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade()
        organisations.load_reference_organisations()
        db.session.commit()
        print(f"Database: {db.engine.dialect.name}; {options.processes} worker processes")

        # One course; runs of completed enrolments for each measurement, made with bulk inserts.
        course = Course(slug="leading-digital-change", title="Leading digital change in London's boroughs",
                        summary="How to lead digital change.", audience="Leaders", level="introductory",
                        estimated_hours=Decimal("6"), cpd_hours=Decimal("6"), topics=["digital"],
                        learning_outcomes=["Lead change"], completion_rule={"lessons": "all", "checks": "all"},
                        gives_certificate=True, content_hash="x" * 64)
        db.session.add(course)
        runs = {}
        for name in ("warm-up", "single", "steps", "bulk", "memory"):
            runs[name] = CourseRun(course=course, kind=RunKind.SELF_PACED, name=f"Benchmark {name}")
            db.session.add(runs[name])
        db.session.commit()
        hackney = accounts.organisation_by_code("E09000012")
        sizes = {"warm-up": 20, "single": options.singles, "steps": options.singles, "bulk": options.bulk,
                 "memory": options.memory_issues}
        now = utcnow()
        started = time.perf_counter()
        number = 0
        for name, size in sizes.items():
            if not size:
                continue
            people = [{"email": f"bench.{name}.{n}@example.org", "name": f"Leader {name.title()} {n:04d}",
                       "organisation_id": hackney.id, "active": True, "session_version": 1}
                      for n in range(number, number + size)]
            number += size
            db.session.execute(insert(Person), people)
            ids = db.session.scalars(select(Person.id).where(Person.email.like(f"bench.{name}.%"))).all()
            db.session.execute(insert(Enrolment), [
                {"run_id": runs[name].id, "person_id": pid, "status": EnrolmentStatus.COMPLETED, "created_at": now,
                 "enrolled_at": now - timedelta(days=30), "completed_at": now, "last_activity_at": now,
                 "cpd_hours_credited": Decimal("6")} for pid in ids])
        db.session.commit()
        print(f"Set-up: {sum(sizes.values())} completed enrolments in {time.perf_counter() - started:.1f} s")

        def pending(name: str) -> list:
            return certificate_batches.pending_for_run(runs[name])

        # Warm this process: imports, the stylesheet and fonts, the templates, the database connection.
        warm = pending("warm-up")
        for enrolment in warm[:5]:
            certificates.issue_for_enrolment(enrolment)
            db.session.commit()

        # (a) The yardstick: the same template and context, no database.
        draft = certificates.prepare_for_enrolment(warm[5])
        db.session.rollback()
        times = []
        for _ in range(50):
            started = time.perf_counter()
            pdf = certificates.render_draft(draft)
            times.append((time.perf_counter() - started) * 1000)
        bare_p50, bare_p95 = statistics.median(times), percentile(times, 0.95)
        rows.append(("(a) bare render, this process", f"p50 {bare_p50:.1f} ms, p95 {bare_p95:.1f} ms "
                     f"({len(pdf) / 1024:.0f} KiB)", "yardstick", None))

        started = time.perf_counter()
        pool = certificate_batches.render_pool(options.processes)
        # Start every worker and render once in each, so both measurements below start warm.
        list(pool.map(certificate_batches._render_in_worker, [draft] * (options.processes * 4)))
        pool_start = time.perf_counter() - started
        started = time.perf_counter()
        list(pool.map(certificate_batches._render_in_worker, [draft] * options.bulk))
        bare_rate = options.bulk / (time.perf_counter() - started)
        rows.append((f"(a) bare render, {options.processes} processes", f"{bare_rate:.1f} certificates/s",
                     "yardstick", None))
        rows.append(("    worker start-up (once per process)", f"{pool_start:.2f} s", "", None))

        profiler = None
        if options.profile:
            import cProfile

            profiler = cProfile.Profile()

        # (b) Single issue: prepare, render and store one certificate, committed, as at a completion.
        single = pending("single")
        times = []
        counter = QueryCounter(db.engine)
        if options.profile == "single":
            profiler.enable()
        for enrolment in single:
            started = time.perf_counter()
            certificate = certificates.issue_for_enrolment(enrolment)
            db.session.commit()
            times.append((time.perf_counter() - started) * 1000)
            assert certificate is not None
        if options.profile == "single":
            profiler.disable()
        counter.close()
        p50, p95 = statistics.median(times), percentile(times, 0.95)
        rows.append(("(b) single issue", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms", "p50 <= 80 ms", p50 <= 80))
        rows.append(("    over the bare render", f"+{p50 - bare_p50:.1f} ms at p50; "
                     f"{counter.count / len(single):.1f} SQL statements each "
                     f"({', '.join(f'{k} {v / len(single):.1f}' for k, v in sorted(counter.kinds.items()))})",
                     "", None))

        # Where a single issue's time goes: the same steps as issue_for_enrolment, timed one by one.
        steps: dict[str, list[float]] = {"prepare": [], "render": [], "store": [], "commit": []}
        for enrolment in pending("steps"):
            started = time.perf_counter()
            draft = certificates.prepare_for_enrolment(enrolment)
            rendering = time.perf_counter()
            content = certificates.render_draft(draft)
            storing = time.perf_counter()
            certificates.store(draft, content)
            committing = time.perf_counter()
            db.session.commit()
            done = time.perf_counter()
            for step, (start, end) in zip(steps, [(started, rendering), (rendering, storing),
                                                  (storing, committing), (committing, done)], strict=True):
                steps[step].append((end - start) * 1000)
        rows.append(("    its steps, p50", ", ".join(f"{step} {statistics.median(values):.1f} ms"
                                                  for step, values in steps.items()), "", None))

        # (c) Bulk issue in worker processes.
        counter = QueryCounter(db.engine)
        if options.profile == "bulk":
            profiler.enable()
        cpu_before = cpu_seconds()
        started = time.perf_counter()
        result = certificate_batches.issue_batch(pending("bulk"), actor=None, processes=options.processes)
        elapsed = time.perf_counter() - started
        main_cpu = cpu_seconds() - cpu_before
        if options.profile == "bulk":
            profiler.disable()
        counter.close()
        assert result.issued == options.bulk and not result.failed, result.summary()
        rate = result.issued / elapsed
        rows.append((f"(c) bulk issue of {result.issued}, {options.processes} processes",
                     f"{rate:.1f} certificates/s ({elapsed:.1f} s)", ">= 25/s", rate >= 25))
        rows.append(("    against the yardstick", f"x{rate / bare_rate:.2f} of {bare_rate:.1f}/s", ">= x0.80",
                     rate >= 0.8 * bare_rate))
        rows.append(("    this process's share", f"{counter.count / result.issued:.1f} SQL statements and "
                     f"{main_cpu * 1000 / result.issued:.1f} ms CPU per certificate "
                     f"({main_cpu / elapsed:.0%} of a core)", "", None))
        again = certificate_batches.issue_batch(pending("bulk"), actor=None, processes=options.processes)
        rows.append(("    second run over the same run", again.summary(), "0 issued", again.issued == 0))

        # (d) Memory over many single issues.
        if not options.memory_issues:
            certificate_batches.shutdown_pool()
            print_table(rows, profiler, options.profile)
            return
        samples = [rss_bytes()]
        for n, enrolment in enumerate(pending("memory"), start=1):
            certificates.issue_for_enrolment(enrolment)
            db.session.commit()
            if n % 100 == 0:
                samples.append(rss_bytes())
        warm_index = min(2, len(samples) - 1)  # after the first 200 issues
        growth = (samples[-1] - samples[warm_index]) / MIB
        peak = (max(samples[warm_index:]) - samples[warm_index]) / MIB
        rows.append((f"(d) RSS over {options.memory_issues} single issues",
                     " ".join(f"{s / MIB:.0f}" for s in samples) + " MiB", "", None))
        rows.append(("    growth after the first 200", f"{growth:+.1f} MiB (highest {peak:+.1f} MiB)",
                     "<= 5 MiB", growth <= 5))
        certificate_batches.shutdown_pool()
    print_table(rows, profiler, options.profile)


def print_table(rows, profiler=None, profiled: str | None = None) -> None:
    width = max(len(r[0]) for r in rows)
    figure_width = max(len(r[1]) for r in rows)
    print()
    print(f"{'Measure':<{width}}  {'Figure':<{figure_width}}  {'Target':<12}  Result")
    print("-" * (width + figure_width + 28))
    for measure, figure, target, passed in rows:
        verdict = "" if passed is None else ("PASS" if passed else "FAIL")
        print(f"{measure:<{width}}  {figure:<{figure_width}}  {target:<12}  {verdict}")
    if profiler is not None:
        import pstats

        print(f"\nProfile of the {profiled} issue (this process):")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
