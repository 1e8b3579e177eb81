"""Course sync and learner pages at scale.

    .venv/bin/python benchmarks/bench_courses.py [--database-url URL]

Generates 60 courses x 8 lessons as files, times a cold sync and an unchanged re-sync, then counts
the SQL statements of the catalogue, a lesson page and the learner's home page with 10 and with
10,000 enrolments in the database. Targets: unchanged re-sync <= 1 s; query counts constant and
<= 10 per page. Uses a throwaway SQLite file unless --database-url is given.
"""

from __future__ import annotations

import argparse
import contextvars
import os
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import event, insert, select

COURSE_YAML = """slug: {slug}
title: Benchmark course {n}
summary: A generated course for measuring sync speed.
audience: Leaders in London's public services.
level: introductory
estimated_hours: 4
cpd_hours: 4
topics: [benchmarking]
learning_outcomes:
  - Measure things
completion:
  lessons: all
  checks: all
certificate: true
"""

CHECK_YAML = """title: Check {n}
after_lesson: lesson-8
pass_mark: 50
questions:
  - id: q1
    type: single
    prompt: Which is right?
    options:
      - id: a
        text: This one
        correct: true
        feedback: Yes.
      - id: b
        text: That one
        correct: false
        feedback: No.
"""


def generate(root: Path, courses: int = 60, lessons: int = 8) -> None:
    paragraph = "Leaders set direction, fund teams and remove blockers. " * 40
    for n in range(1, courses + 1):
        folder = root / f"benchmark-course-{n:02d}"
        (folder / "lessons").mkdir(parents=True)
        (folder / "checks").mkdir()
        (folder / "course.yaml").write_text(COURSE_YAML.format(slug=folder.name, n=n))
        for m in range(1, lessons + 1):
            body = f"# Lesson {m}\n\n## Part one\n\n{paragraph}\n\n- a point\n- another point\n"
            (folder / "lessons" / f"{m:02d}-lesson-{m}.md").write_text(body)
        (folder / "checks" / "01-check.yaml").write_text(CHECK_YAML.format(n=n))


class QueryCounter:
    def __init__(self, engine):
        self.count = 0
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement, *args):
        self.count += 1
        self.statements.append(" ".join(statement.split())[:150])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pathways-bench-"))
    url = options.database_url or f"sqlite:///{workdir / 'bench.db'}"

    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.models import Course, CourseRun, Enrolment, EnrolmentStatus, Person, Role, RunKind
    from app.services import accounts, organisations
    from app.services.course_sync import sync_courses
    from app.services.enrolment import enrol
    from app.services.learning import record_lesson_opened

    root = workdir / "courses"
    generate(root)
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, WTF_CSRF_ENABLED=False,
                     ARGON2_TIME_COST=1, ARGON2_MEMORY_KIB=1024, ARGON2_PARALLELISM=1)
    with app.app_context():
        upgrade()
        organisations.load_reference_organisations()
        db.session.commit()
        started = time.perf_counter()
        report = sync_courses(root)
        db.session.commit()
        cold = time.perf_counter() - started
        resyncs = []
        for _ in range(5):
            started = time.perf_counter()
            again = sync_courses(root)
            db.session.commit()
            resyncs.append(time.perf_counter() - started)
        print(f"cold sync of 60 courses x 8 lessons: {cold:.2f} s ({report.summary()})")
        print(f"unchanged re-sync: median {statistics.median(resyncs):.3f} s, max {max(resyncs):.3f} s "
              f"({again.summary()}); target <= 1 s")

        hackney = accounts.organisation_by_code("E09000012")
        learner = accounts.create_person(None, email="bench@example.org", name="Bench Learner",
                                         organisation=hackney, roles=[Role.LEARNER],
                                         password="quiet-river-lantern-ochre")
        runs = []
        for course in db.session.scalars(select(Course).order_by(Course.id)):
            run = CourseRun(course=course, kind=RunKind.SELF_PACED, name="Self-paced")
            db.session.add(run)
            runs.append(run)
        db.session.flush()
        own = [enrol(None, learner, runs[i]) for i in range(3)]
        for lesson in own[0].run.course.lessons[:3]:
            record_lesson_opened(own[0], lesson)
        db.session.commit()
        lesson_path = f"/learning/{own[0].id}/lessons/{own[0].run.course.lessons[3].key}"
        paths = {"catalogue": "/courses", "lesson page": lesson_path, "learner home": "/"}

        from flask.testing import FlaskClient

        class IsolatedClient(FlaskClient):
            """Each request in an application context of its own, as under a real server."""

            def open(self, *args, **kwargs):
                return contextvars.Context().run(super().open, *args, **kwargs)

        app.test_client_class = IsolatedClient

        def measure(label: str) -> dict[str, int]:
            client = app.test_client()
            client.post("/sign-in", data={"email": "bench@example.org", "password": "quiet-river-lantern-ochre"})
            counts = {}
            for name, path in paths.items():
                client.get(path)  # warm
                counter = QueryCounter(db.engine)
                times = []
                for _ in range(5):
                    before = counter.count
                    started = time.perf_counter()
                    assert client.get(path).status_code == 200, path
                    times.append((time.perf_counter() - started) * 1000)
                counts[name] = (counter.count - before, statistics.median(times))
                if os.environ.get("BENCH_SHOW_SQL") == name:
                    print("\n".join(counter.statements[before:]))
                event.remove(db.engine, "before_cursor_execute", counter._count)
            print(f"{label}: " + "; ".join(f"{n} {q} queries, {t:.1f} ms median" for n, (q, t) in counts.items()))
            return {n: q for n, (q, _) in counts.items()}

        small = measure(f"{db.session.query(Enrolment).count()} enrolments")
        # Fill the database with other people's enrolments.
        people = [{"email": f"p{i}@example.org", "name": f"Person {i}", "organisation_id": hackney.id,
                   "active": True, "session_version": 1} for i in range(10_000)]
        db.session.execute(insert(Person), people)
        ids = db.session.scalars(select(Person.id).where(Person.email.like("p%@example.org"))).all()
        db.session.execute(insert(Enrolment), [
            {"run_id": runs[i % len(runs)].id, "person_id": pid, "status": EnrolmentStatus.ENROLLED}
            for i, pid in enumerate(ids)
        ])
        db.session.commit()
        large = measure(f"{db.session.query(Enrolment).count()} enrolments")
        for name in paths:
            verdict = "constant" if small[name] == large[name] else "GROWS"
            print(f"  {name}: {small[name]} -> {large[name]} queries ({verdict}; target <= 10)")


if __name__ == "__main__":
    main()
