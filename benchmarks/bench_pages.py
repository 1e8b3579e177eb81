"""Pathways' busiest pages at programme scale, each beside the bare route, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_pages.py [--databases sqlite,postgresql] [--postgresql-url URL] [--reuse]
        [--sqlite-file PATH] [--seconds S] [--clients C] [--pages NAME,...] [--apprentices N] [--app-root PATH]
        [--port P] [--mixed-requests N]

For each database, builds a programme in full swing once: 10,000 apprentices, 40,000 placements and 500,000
off-the-job entries (benchmarks/apprenticeship_data.py) gathered into four intakes of 2,500 (and one of three),
their risk flags worked out; the leadership courses of courses/ and 60 generated ones, a run of each and 10,000
learners enrolled with some lessons opened; and the people whose pages are measured: a programme-wide
coordinator, a Hackney coordinator, a supervisor with about a hundred entries of hours waiting, an apprentice
with a long record (80 entries, four placements) and a leader enrolled on three courses. Then:

- counts the SQL statements of one request of each page, in-process (each request in an application context
  of its own); the review pages must run as many for a cohort of three as for one of 2,500 ("constant");
- serves Pathways with gunicorn (2 sync workers, production settings: benchmarks/serving.py), warms both
  workers and loads it with ``--clients`` concurrent clients: the bare route /healthz for ``--seconds``, then a
  page as long, alternating, and /healthz once more at the end. Each page's throughput is reported beside p50 and
  p95 latency and as a ratio to the mean of the bare route's just before and just after it (target 0.15);
- drives 5,000 requests more, a mix of the pages, then reads each worker's resident memory (bar: 120 MiB).

Pages, by the names ``--pages`` takes: intake, intake-borough, intake-filtered, intake-sorted, intake-page-20
(the intake review of 2,500 apprentices: first page, as the Hackney coordinator, red ones by name, by progress,
page 20), apprentices (every apprentice's review), record and off-the-job (the apprentice's own), supervising
(the supervisor's approval queue), home and lesson (the leader's home page and a lesson of their course).

The SQLite file is kept at /tmp/pathways-bench-pages/bench.db (or ``--sqlite-file``); the PostgreSQL database is
created if missing and its tables are dropped and rebuilt. ``--reuse`` measures the databases an earlier run
built, upgrading their schema first (and working the flags out again) when the app's migrations are ahead of
them: after that, older code may no longer run on them. ``--app-root`` imports and serves the app from another
checkout (a worktree of older code, say), with this checkout's virtual environment, so that one script measures
before and after on the same data. The coordinators' authenticator keys are kept beside the SQLite file, by
database, for --reuse to sign them in again.
"""

from __future__ import annotations

import argparse
import contextvars
import itertools
import json
import logging
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import create_engine, event, func, insert, make_url, select, text, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# This checkout's serving helpers, which hold no app code. The app, and the data generators that write its
# tables, are imported from --app-root once it is first on the path (benchmarks/ is a namespace package, so its
# other modules are looked for there first).
from benchmarks import serving  # noqa: E402

WORKDIR = Path("/tmp/pathways-bench-pages")
SQLITE_FILE = WORKDIR / "bench.db"
# The authenticator apps the coordinators set up, by database, so that --reuse can sign them in again.
KEYS_FILE = WORKDIR / "authenticators.json"
DEFAULT_POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_pages"
PASSWORD = "quiet-river-lantern-ochre"  # noqa: S105 - benchmark accounts on a throwaway database
ACCOUNTS = {
    "wide": "bench.wide@example.org",
    "borough": "bench.hackney@example.org",
    "supervisor": "bench.supervisor@example.org",
    "apprentice": "bench.apprentice@example.org",
    "leader": "bench.leader@example.org",
}
HACKNEY = "E09000012"
INTAKES = 4
EXTRA_ENTRIES = 30  # on top of the generator's 50, for the apprentice whose record is measured
SUPERVISORS_MERGED = 5  # generated supervisors whose placements the measured supervisor takes over
LEARNERS = 10_000
TARGET_RATIO = 0.15
RSS_LIMIT_MIB = 120
MIXED_REQUESTS = 5_000
SECOND_STEPS = ("/sign-in/code", "/account/authenticator/set-up")
DATABASE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


@dataclass(frozen=True)
class Page:
    name: str
    label: str
    who: str
    path: str
    family: str = ""
    # The same view of a big cohort and of a small one: they must run as many statements.
    big: str = ""
    small: str = ""


def pages_of(found: dict) -> list[Page]:
    big, small = found["big"], found["small"]
    review, small_review = f"/intakes/{big}/review", f"/intakes/{small}/review"
    intake = "intake review"

    def of_intake(name, label, who, query=""):
        return Page(name, label, who, review + query, intake, review + query, small_review + query)

    everyone = "/cohort-review/apprentices"
    record = f"/apprenticeships/{found['apprenticeship']}"
    return [
        of_intake("intake", "intake review, first page", "wide"),
        of_intake("intake-borough", "intake review, Hackney coordinator", "borough"),
        of_intake("intake-filtered", "intake review, red, by name", "wide", "?rating=red&sort=name"),
        of_intake("intake-sorted", "intake review, by progress", "wide", "?sort=progress"),
        of_intake("intake-page-20", "intake review, page 20", "wide", "?page=20"),
        Page("apprentices", "all apprentices review", "wide", everyone, "all-apprentices review",
             f"{everyone}?intake={big}", f"{everyone}?intake={small}"),
        Page("record", "apprentice: own record", "apprentice", record),
        Page("off-the-job", "apprentice: off-the-job hours", "apprentice", f"{record}/off-the-job"),
        Page("supervising", "supervisor: hours to approve", "supervisor", "/supervising"),
        Page("home", "leader: home page", "leader", "/"),
        Page("lesson", "leader: a lesson", "leader", f"/learning/{found['enrolment']}/lessons/{found['lesson']}"),
    ]


PAGE_NAMES = [p.name for p in pages_of({"big": 0, "small": 0, "apprenticeship": 0, "enrolment": 0, "lesson": ""})]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def say(message: str = "") -> None:
    print(message, flush=True)


# The databases -----------------------------------------------------------------------------------------------------


def prepare(kind: str, url: str, reuse: bool) -> None:
    """An empty database to build on, or (with ``reuse``) the check that the one to measure is there."""
    target = make_url(url)
    if kind == "sqlite":
        file = Path(target.database)
        file.parent.mkdir(parents=True, exist_ok=True)
        if reuse:
            if not file.exists():
                raise SystemExit(f"Nothing to reuse: {file} is missing (run once without --reuse)")
            return
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{file}{suffix}").unlink(missing_ok=True)
        return
    server = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        present = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                    {"name": target.database})
        if not present:
            if reuse:
                raise SystemExit(f"Nothing to reuse: the database {target.database} is missing")
            connection.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
            say(f"  created the database {target.database}")
    server.dispose()
    if not reuse:
        engine = create_engine(target, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
        engine.dispose()


def make_app(url: str):
    from app import create_app

    # The server's secret key, so that both read the authenticator keys the other sealed.
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, WTF_CSRF_ENABLED=False, SECRET_KEY=serving.SECRET_KEY)
    logging.getLogger("pathways.request").setLevel(logging.WARNING)
    return app


def analyse() -> None:
    """Fresh planner statistics, as a live database would have after a bulk load; on PostgreSQL a vacuum too, as
    autovacuum would run after it, so that the visibility map lets the review pages count from their indexes
    alone (a server with autovacuum off, as a test server may be, would otherwise read every row each time)."""
    from app.extensions import db

    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
        return
    with db.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()


def build(app, app_root: Path, apprentices: int) -> None:
    from flask_migrate import upgrade

    from app.extensions import db
    from app.models import Role
    from app.services import accounts, organisations, risk
    from benchmarks import apprenticeship_data

    with app.app_context():
        upgrade()
        organisations.load_reference_organisations()
        db.session.commit()
        hackney = accounts.organisation_by_code(HACKNEY)

        def person(key: str, role: Role, **extra):
            return accounts.create_person(None, email=ACCOUNTS[key], name=f"Bench {key.title()}",
                                          organisation=hackney, roles=[role], password=PASSWORD, **extra)

        people = {"wide": person("wide", Role.COORDINATOR, scope=[]),
                  "borough": person("borough", Role.COORDINATOR, scope=[hackney]),
                  "supervisor": person("supervisor", Role.SUPERVISOR),
                  "apprentice": person("apprentice", Role.APPRENTICE),
                  "leader": person("leader", Role.LEARNER)}
        db.session.commit()

        started = time.perf_counter()
        say(f"  generating {apprentices} apprentices ...")
        data = apprenticeship_data.generate(apprentices=apprentices, progress=lambda m: say(f"  {m}"))
        say(f"  generated in {time.perf_counter() - started:.0f} s")
        _gather_intakes(sorted(data["apprenticeship_ids"]), hackney.id)
        _give_records(sorted(data["apprenticeship_ids"]), data["supervisor_ids"], people)

        _learning(app_root, people["leader"], hackney.id)

        started = time.perf_counter()
        counts = risk.refresh_flags()
        db.session.commit()
        say(f"  flags worked out in {time.perf_counter() - started:.1f} s: {counts}")
        analyse()


def _gather_intakes(ids: list[int], hackney_id: int) -> None:
    """Everyone into INTAKES intakes (the generator makes one a month), but for three apprentices, employed in
    Hackney, in an intake of their own: the small cohort the review pages' statements are compared against."""
    from app.extensions import db
    from app.models import Apprenticeship, Intake

    intake_ids = list(db.session.scalars(select(Intake.id).order_by(Intake.starts_on)))[:INTAKES]
    for n, intake_id in enumerate(intake_ids):
        chosen = ids[n::len(intake_ids)]
        for i in range(0, len(chosen), 5000):
            db.session.execute(update(Apprenticeship).where(Apprenticeship.id.in_(chosen[i:i + 5000]))
                               .values(intake_id=intake_id))
    small = db.session.scalar(select(Intake.id).where(Intake.id.not_in(intake_ids)).order_by(Intake.id))
    db.session.execute(update(Apprenticeship).where(Apprenticeship.id.in_(ids[:3]))
                       .values(intake_id=small, employer_id=hackney_id))
    db.session.commit()


def _give_records(ids: list[int], supervisor_ids: list[int], people: dict) -> None:
    """The measured apprentice takes over a generated record in the biggest intake, with EXTRA_ENTRIES more
    entries; the measured supervisor the placements of SUPERVISORS_MERGED generated supervisors."""
    from app.extensions import db
    from app.models import ActivityType, Apprenticeship, OtjActivity, OtjStatus, Placement
    from app.models.apprenticeships import otj_activity_ksb
    from app.models.types import utcnow
    from app.services import clock

    apprentice, supervisor = people["apprentice"].id, people["supervisor"].id
    record = db.session.get(Apprenticeship, ids[INTAKES - 1])
    record.apprentice_id = apprentice
    db.session.execute(update(OtjActivity).where(OtjActivity.apprenticeship_id == record.id)
                       .values(logged_by_id=apprentice))
    db.session.flush()
    current = max(record.placements, key=lambda p: p.starts_on)
    ksb_ids = [k.id for k in record.standard_version.ksbs]
    first = db.session.scalar(select(func.max(OtjActivity.id))) + 1
    now, today = utcnow(), clock.today()
    rows = [{"id": first + n, "apprenticeship_id": record.id, "placement_id": current.id,
             "occurred_on": max(current.starts_on, today - timedelta(days=1 + 3 * n)), "minutes": 90 + 30 * (n % 4),
             "activity_type": ActivityType.ONLINE_LEARNING, "description": f"Benchmark reading {n}",
             "status": OtjStatus.SUBMITTED if n % 5 == 0 else OtjStatus.APPROVED, "logged_by_id": apprentice,
             "logged_at": now, "decided_by_id": None if n % 5 == 0 else current.supervisor_id,
             "decided_at": None if n % 5 == 0 else now} for n in range(EXTRA_ENTRIES)]
    db.session.execute(insert(OtjActivity), rows)
    db.session.execute(insert(otj_activity_ksb), [{"otj_activity_id": r["id"], "ksb_id": ksb_ids[n % len(ksb_ids)]}
                                                   for n, r in enumerate(rows)])
    db.session.execute(update(Placement).where(Placement.supervisor_id.in_(supervisor_ids[:SUPERVISORS_MERGED]))
                       .values(supervisor_id=supervisor))
    db.session.commit()


def _learning(app_root: Path, leader, hackney_id: int) -> None:
    """The courses of ``app_root``/courses and 60 generated ones, a self-paced run of each, the leader on three
    real ones with lessons opened in the first, and LEARNERS more learners spread over the runs."""
    from app.extensions import db
    from app.models import (
        Course,
        CourseRun,
        Enrolment,
        EnrolmentStatus,
        LessonProgress,
        Person,
        Role,
        RoleGrant,
        RunKind,
    )
    from app.models.types import utcnow
    from app.services.course_sync import sync_courses
    from app.services.enrolment import enrol
    from app.services.learning import record_lesson_opened
    from benchmarks.bench_courses import generate as generate_courses

    folder = Path(tempfile.mkdtemp(prefix="pathways-bench-courses-"))
    try:
        generate_courses(folder)
        for course in sorted((app_root / "courses").iterdir()):
            if (course / "course.yaml").exists():
                shutil.copytree(course, folder / course.name)
        report = sync_courses(folder)
        db.session.commit()
    finally:
        shutil.rmtree(folder)
    say(f"  courses: {report.summary()}")
    runs = [CourseRun(course=course, kind=RunKind.SELF_PACED, name="Self-paced")
            for course in db.session.scalars(select(Course).order_by(Course.id))]
    db.session.add_all(runs)
    db.session.flush()
    real = [run for run in runs if not run.course.slug.startswith("benchmark-course-")]
    own = [enrol(None, leader, run) for run in real[:3]]
    for lesson in own[0].run.course.lessons[:3]:
        record_lesson_opened(own[0], lesson)
    db.session.commit()

    # Other learners, with explicit ids as the apprenticeship generator gives its people.
    now = utcnow()
    first = db.session.scalar(select(func.max(Person.id))) + 1
    db.session.execute(insert(Person), [
        {"id": first + i, "email": f"bench.learner{i}@example.org", "name": f"Bench learner {i}",
         "organisation_id": hackney_id, "active": True, "session_version": 1, "created_at": now}
        for i in range(LEARNERS)])
    db.session.execute(insert(RoleGrant), [{"person_id": first + i, "role": Role.LEARNER} for i in range(LEARNERS)])
    db.session.execute(insert(Enrolment), [
        {"run_id": runs[i % len(runs)].id, "person_id": first + i, "status": EnrolmentStatus.ENROLLED,
         "created_at": now, "enrolled_at": now, "last_activity_at": now} for i in range(LEARNERS)])
    lessons = {run.id: [lesson.id for lesson in run.course.lessons] for run in runs}
    enrolments = db.session.execute(select(Enrolment.id, Enrolment.run_id).where(Enrolment.person_id >= first)).all()
    progress = [{"enrolment_id": enrolment_id, "lesson_id": lesson_id, "completed_at": now}
                for n, (enrolment_id, run_id) in enumerate(enrolments) for lesson_id in lessons[run_id][:n % 4]]
    db.session.execute(insert(LessonProgress), progress)
    db.session.commit()
    say(f"  {len(runs)} runs, {len(enrolments) + len(own)} enrolments, {len(progress) + 3} lessons opened")


def upgrade_if_behind(app) -> None:
    """Bring a reused database up to the app's migrations, and the flags up to its rules."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from flask_migrate import upgrade

    from app.extensions import db
    from app.services import risk

    with app.app_context():
        heads = set(ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config()).get_heads())
        with db.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
        if current == heads:
            say(f"  schema at the app's migrations ({', '.join(sorted(heads))})")
            if db.engine.dialect.name == "postgresql":
                analyse()  # as autovacuum keeps it, whatever earlier runs wrote
            return
        say(f"  the app's migrations are ahead of the database ({', '.join(sorted(current))} -> "
            f"{', '.join(sorted(heads))}): upgrading it and working the flags out again")
        upgrade()
        started = time.perf_counter()
        counts = risk.refresh_flags()
        db.session.commit()
        analyse()
        say(f"  upgraded; flags worked out in {time.perf_counter() - started:.1f} s: {counts}")


def discover(app) -> dict:
    """What the pages need, found in the database (so a reused one is measured the same way)."""
    from app.extensions import db
    from app.models import Apprenticeship, Enrolment, OtjActivity, OtjStatus, Person, Placement

    with app.app_context():
        people = {key: db.session.scalar(select(Person.id).where(Person.email == email))
                  for key, email in ACCOUNTS.items()}
        if None in people.values():
            raise SystemExit("This database has no benchmark accounts: build it first (run without --reuse)")
        sizes = db.session.execute(select(Apprenticeship.intake_id, func.count()).where(
            Apprenticeship.intake_id.is_not(None)).group_by(Apprenticeship.intake_id)).all()
        big, big_size = max(sizes, key=lambda row: (row[1], row[0]))
        small, small_size = min(sizes, key=lambda row: (row[1], row[0]))
        record = db.session.scalar(select(Apprenticeship).where(Apprenticeship.apprentice_id == people["apprentice"]))
        enrolment = db.session.scalar(select(Enrolment).where(Enrolment.person_id == people["leader"])
                                      .order_by(Enrolment.id).limit(1))
        supervised = select(Placement.id).where(Placement.supervisor_id == people["supervisor"])
        return {
            "big": big, "big_size": big_size, "small": small, "small_size": small_size,
            "apprenticeships": db.session.scalar(select(func.count()).select_from(Apprenticeship)),
            "entries": db.session.scalar(select(func.count()).select_from(OtjActivity)),
            "enrolments": db.session.scalar(select(func.count()).select_from(Enrolment)),
            "apprenticeship": record.id,
            "record_entries": db.session.scalar(select(func.count()).select_from(OtjActivity).where(
                OtjActivity.apprenticeship_id == record.id)),
            "record_placements": len(record.placements),
            "waiting": db.session.scalar(select(func.count()).select_from(OtjActivity).where(
                OtjActivity.status == OtjStatus.SUBMITTED, OtjActivity.placement_id.in_(supervised))),
            "enrolment": enrolment.id, "lesson": enrolment.run.course.lessons[3].key,
        }


# Statements per request ----------------------------------------------------------------------------------------


def signed_in_client(app, email: str):
    """A test client signed in through the real form, second step included, each request in an application
    context of its own as under a real server."""
    from flask.testing import FlaskClient

    class IsolatedClient(FlaskClient):
        def open(self, *args, **kwargs):
            return contextvars.Context().run(super().open, *args, **kwargs)

    client = IsolatedClient(app, app.response_class, use_cookies=True)
    response = client.post("/sign-in", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302, f"signing {email} in answered {response.status_code}"
    step = urlsplit(response.headers["Location"]).path
    if step in SECOND_STEPS:
        html = client.get(step).get_data(as_text=True)
        answer = client.post(step, data={"code": serving.second_step_code(email, html)})
        assert answer.status_code in (200, 302), f"{email}'s second step answered {answer.status_code}"
    return client


def fetch(client, path: str) -> None:
    status = client.get(path).status_code
    if status != 200:
        raise SystemExit(f"GET {path} answered {status}, not 200")


def count_statements(app, pages: list[Page]) -> dict[tuple[str, str], int]:
    """Statements of one request of each path the pages name (after one to warm it), by account and path."""
    from app.extensions import db

    clients = {who: signed_in_client(app, ACCOUNTS[who]) for who in dict.fromkeys(p.who for p in pages)}
    found: dict[tuple[str, str], int] = {}
    with app.app_context():
        for page in pages:
            for path in filter(None, (page.path, page.big, page.small)):
                if (page.who, path) in found:
                    continue
                fetch(clients[page.who], path)
                seen = []

                def count(*_args, seen=seen):
                    seen.append(1)

                event.listen(db.engine, "before_cursor_execute", count)
                try:
                    fetch(clients[page.who], path)
                finally:
                    event.remove(db.engine, "before_cursor_execute", count)
                found[page.who, path] = len(seen)
        db.engine.dispose()
    return found


def report_statements(pages: list[Page], counts: dict[tuple[str, str], int], found: dict) -> None:
    say(f"\nSQL statements per request (in-process); the review pages' same view of the intake of "
        f"{found['small_size']} must run as many as of {found['big_size']:,}:")
    say(f"  {'page':40} {'statements':>10}   {'big cohort -> small cohort'}")
    verdicts: dict[str, bool] = {}
    for page in pages:
        compared = ""
        if page.family:
            big, small = counts[page.who, page.big], counts[page.who, page.small]
            verdicts[page.family] = verdicts.get(page.family, True) and big == small
            compared = f"{big} -> {small}" + ("" if big == small else "  (differs)")
        say(f"  {page.label:40} {counts[page.who, page.path]:>10}   {compared}")
    for family, constant in verdicts.items():
        say(f"  {family}: {'constant' if constant else 'NOT constant'}")


# Under load -------------------------------------------------------------------------------------------------------


def load(port: int, path: str, cookie: str, *, seconds: float, clients: int) -> dict:
    stop = time.perf_counter() + seconds
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()

    def client():
        mine = []
        while time.perf_counter() < stop:
            started = time.perf_counter()
            status, _body, _headers = serving.request(port, path, cookie=cookie)
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
    if failures:
        raise SystemExit(f"GET {path}: {len(failures)} of {len(latencies)} requests failed, e.g. {failures[:3]}")
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50": statistics.median(latencies),
            "p95": percentile(latencies, 0.95)}


def mixed(port: int, pages: list[Page], cookies: dict[str, str], *, requests: int, clients: int) -> float:
    """``requests`` requests, the pages in turn, over ``clients`` clients; the seconds they took."""
    turns = itertools.islice(itertools.cycle(pages), requests)
    lock = threading.Lock()
    failures = []

    def client():
        while True:
            with lock:
                page = next(turns, None)
            if page is None:
                return
            status, _body, _headers = serving.request(port, page.path, cookie=cookies[page.who])
            if status != 200:
                failures.append((page.path, status))

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    if failures:
        raise SystemExit(f"{len(failures)} of the mixed requests failed, e.g. {failures[:3]}")
    return time.perf_counter() - started


def workers_rss(server) -> dict[int, float]:
    """Resident memory of each of the gunicorn master's workers, in MiB."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    found = {}
    for pid in map(int, children):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                found[pid] = int(line.split()[1]) / 1024
    return found


def load_keys(url: str) -> None:
    keys = json.loads(KEYS_FILE.read_text()) if KEYS_FILE.exists() else {}
    serving.remember_authenticator_keys(keys.get(url, {}))


def save_keys(url: str) -> None:
    KEYS_FILE.parent.mkdir(parents=True, exist_ok=True)
    keys = json.loads(KEYS_FILE.read_text()) if KEYS_FILE.exists() else {}
    keys[url] = {email: key for email, key in serving.authenticator_keys().items() if email in ACCOUNTS.values()}
    KEYS_FILE.write_text(json.dumps(keys, indent=2))


def measure_under_load(url: str, app_root: Path, pages: list[Page], options) -> tuple[list, dict]:
    """(name, label, result) for each run in order, bare routes included, and the workers' memory after."""
    server = serving.serve(url, options.port, app_root)
    try:
        cookies = {who: serving.sign_in(options.port, ACCOUNTS[who], PASSWORD)
                   for who in dict.fromkeys(p.who for p in pages)}
        save_keys(url)
        for page in pages:  # both workers, every page and cookie
            for _ in range(6):
                status = serving.request(options.port, page.path, cookie=cookies[page.who])[0]
                if status != 200:
                    raise SystemExit(f"GET {page.path} answered {status} under gunicorn, not 200")
        runs = []
        for page in [*pages, None]:
            say(f"  /healthz for {options.seconds:g} s ...")
            runs.append(("healthz", "/healthz", load(options.port, "/healthz", "", seconds=options.seconds,
                                                      clients=options.clients)))
            if page is not None:
                say(f"  {page.label} for {options.seconds:g} s ...")
                runs.append((page.name, page.label, load(options.port, page.path, cookies[page.who],
                                                         seconds=options.seconds, clients=options.clients)))
        say(f"  {options.mixed_requests} requests, the pages in turn ...")
        took = mixed(options.port, pages, cookies, requests=options.mixed_requests, clients=options.clients)
        say(f"  done in {took:.0f} s")
        return runs, workers_rss(server)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def ratios(runs: list) -> dict[str, float]:
    """Each page's req/s over the mean of the bare route's just before and just after it."""
    found = {}
    for i, (name, _label, result) in enumerate(runs):
        if name != "healthz":
            bare = statistics.mean([runs[i - 1][2]["rps"], runs[i + 1][2]["rps"]])
            found[name] = result["rps"] / bare
    return found


def verdict(ratio: float) -> str:
    return "met" if ratio >= TARGET_RATIO else "NOT met"


def report_load(kind: str, runs: list, rss: dict[int, float], options) -> dict[str, float]:
    found = ratios(runs)
    say(f"\n{DATABASE_NAMES[kind]} under load: gunicorn, 2 sync workers, {options.clients} clients, "
        f"{options.seconds:g} s each, in this order:")
    say(f"  {'':40} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'ratio':>6}  target {TARGET_RATIO}")
    for name, label, result in runs:
        shown = "/healthz" if name == "healthz" else label
        ratio = f"{found[name]:6.3f}  {verdict(found[name])}" if name in found else ""
        say(f"  {shown:40} {result['rps']:8.1f} {result['p50']:8.1f} {result['p95']:8.1f} {ratio}")
    say(f"\n{DATABASE_NAMES[kind]}: resident memory of each worker after {options.mixed_requests} more requests "
        f"(bar: {RSS_LIMIT_MIB} MiB):")
    for pid, mib in sorted(rss.items()):
        say(f"  worker {pid}: {mib:.1f} MiB ({'within' if mib <= RSS_LIMIT_MIB else 'OVER'} the bar)")
    return found


# Running it all -------------------------------------------------------------------------------------------------


def run_database(kind: str, url: str, app_root: Path, options) -> dict[str, float]:
    say(f"\n=== {DATABASE_NAMES[kind]}: {url}")
    started = time.perf_counter()
    prepare(kind, url, options.reuse)
    load_keys(url)
    app = make_app(url)
    if options.reuse:
        upgrade_if_behind(app)
    else:
        say("Building the data ...")
        build(app, app_root, options.apprentices)
        say(f"  built in {time.perf_counter() - started:.0f} s")
    found = discover(app)
    say(f"  {found['apprenticeships']:,} apprenticeships, {found['entries']:,} off-the-job entries; the intake "
        f"measured has {found['big_size']:,} apprentices, the small one {found['small_size']}; the apprentice has "
        f"{found['record_entries']} entries and {found['record_placements']} placements; the supervisor has "
        f"{found['waiting']} entries waiting; {found['enrolments']:,} enrolments")
    pages = [p for p in pages_of(found) if p.name in options.pages]

    measuring = time.perf_counter()
    report_statements(pages, count_statements(app, pages), found)
    say("\nUnder load:")
    runs, rss = measure_under_load(url, app_root, pages, options)
    result = report_load(kind, runs, rss, options)
    say(f"\n{DATABASE_NAMES[kind]}: measured in {time.perf_counter() - measuring:.0f} s "
        f"({time.perf_counter() - started:.0f} s in all)")
    return result


def report_summary(pages: list[str], results: dict[str, dict[str, float]]) -> None:
    labels = {p.name: p.label for p in pages_of({"big": 0, "small": 0, "apprenticeship": 0, "enrolment": 0,
                                                  "lesson": ""})}
    say(f"\nSummary: each page's throughput as a ratio to /healthz's (target {TARGET_RATIO})")
    say(f"  {'page':40} " + " ".join(f"{DATABASE_NAMES[kind]:>20}" for kind in results))
    for name in pages:
        cells = [f"{found[name]:6.3f} {verdict(found[name]):>7}" for found in results.values()]
        say(f"  {labels[name]:40} " + " ".join(f"{cell:>20}" for cell in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgresql-url", default=DEFAULT_POSTGRESQL)
    parser.add_argument("--sqlite-file", type=Path, default=SQLITE_FILE)
    parser.add_argument("--reuse", action="store_true", help="measure the databases an earlier run built")
    parser.add_argument("--seconds", type=float, default=8, help="of load per page (and per bare route)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--pages", default=",".join(PAGE_NAMES), help=f"some of {','.join(PAGE_NAMES)}")
    parser.add_argument("--apprentices", type=int, default=10_000)
    parser.add_argument("--app-root", type=Path, default=ROOT, help="the checkout whose app is measured")
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--mixed-requests", type=int, default=MIXED_REQUESTS, help="before reading memory")
    options = parser.parse_args()
    options.pages = [name.strip() for name in options.pages.split(",") if name.strip()]
    unknown = set(options.pages) - set(PAGE_NAMES)
    databases = [name.strip() for name in options.databases.split(",") if name.strip()]
    if unknown or not set(databases) <= set(DATABASE_NAMES):
        parser.error(f"pages are some of {', '.join(PAGE_NAMES)}; databases some of sqlite,postgresql")
    app_root = options.app_root.resolve()
    if not (app_root / "app" / "__init__.py").exists():
        parser.error(f"{app_root} holds no Pathways checkout")
    sys.path.insert(0, str(app_root))
    # Stopped with SIGTERM, stop the server too (on the way out through ``measure_under_load``'s finally).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    say(f"Pathways from {app_root}; {options.seconds:g} s a run, {options.clients} clients")

    urls = {"sqlite": f"sqlite:///{options.sqlite_file.resolve()}", "postgresql": options.postgresql_url}
    results = {kind: run_database(kind, urls[kind], app_root, options) for kind in databases}
    report_summary(options.pages, results)


if __name__ == "__main__":
    main()
