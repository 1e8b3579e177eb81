"""Races against a real server: Pathways under gunicorn (2 sync workers, production settings), driven by
concurrent HTTP clients, counting what the database and a mail server end up with.

    .venv/bin/python benchmarks/race_check.py [--database-url URL] [--runs N] [--port P]

Each run, on a new apprenticeship:

- the same off-the-job form sent 20 times at once (a double click, many times over): rows made (want 1);
- 20 different one-hour entries for one day at once: minutes accepted against the 8-hour limit (want 480);
- two coordinators, one approving and one rejecting the same entry at once: how many were told it worked
  (want 1);
- 20 password resets at once, then four ``flask outbox deliver`` processes at once: emails the mail server
  (an aiosmtpd sink) accepted for the 20 messages (want 20), and the slowest reset request.

Uses a throwaway SQLite file unless --database-url is given; a given database's tables are dropped and rebuilt
first, so use a throwaway one (e.g. ``createdb race_check``).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.serving import CSRF, SECRET_KEY, request, serve, sign_in  # noqa: E402

PASSWORD = "quiet-river-lantern-ochre"  # noqa: S105 - accounts on a throwaway database
AT_ONCE = 20


def build(url: str) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import MetaData

    from app import create_app
    from app.extensions import db
    from app.services import organisations, standards

    app = create_app("development", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        metadata = MetaData()
        metadata.reflect(db.engine)
        metadata.drop_all(db.engine)
        upgrade()
        organisations.load_reference_organisations()
        standards.load_standards()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def seed_run(app, number: int) -> dict:
    """A new apprentice on a placement, two programme-wide coordinators, 20 people to reset, one waiting entry."""
    from app.extensions import db
    from app.models import Role, Standard
    from app.services import accounts, clock
    from tests.apprenticeship_factories import make_apprenticeship, make_otj, make_placement, make_supervisor

    with app.app_context():
        camden = accounts.organisation_by_code("E09000007")

        def person(email, roles, **extra):
            found = accounts.find_person_by_email(email)
            return found or accounts.create_person(None, email=email, name=email.split("@")[0].title(),
                                                   organisation=camden, roles=roles, password=PASSWORD, **extra)

        apprentice = person(f"apprentice{number}@race.example", [Role.APPRENTICE])
        coordinators = [person(f"coordinator{n}@race.example", [Role.COORDINATOR], scope=[]) for n in (1, 2)]
        resets = [person(f"reset{number}-{n}@race.example", [Role.LEARNER]).email for n in range(AT_ONCE)]
        db.session.commit()
        version = db.session.query(Standard).filter_by(reference="ST0116").one().versions[0]
        version.otj_minimum_hours = version.otj_minimum_hours or 550  # starts from August 2025 need a figure
        record = make_apprenticeship(apprentice, standard_version=version, employer_code="E09000007",
                                     starts_on=clock.today() - timedelta(days=200))
        make_placement(record, supervisor=make_supervisor(f"supervisor{number}@race.example",
                                                          organisation_code="E09000007"), host_code="E09000007")
        waiting = make_otj(record, on=clock.today() - timedelta(days=2), minutes=120)
        return {"apprentice": apprentice.email, "coordinators": [c.email for c in coordinators],
                "apprenticeship": record.id, "waiting": waiting.id, "ksb": version.ksbs[0].id, "resets": resets}


def form_token(port: int, path: str, cookie: str) -> tuple[str, str]:
    """The form's CSRF token, and the session cookie that holds it."""
    _status, body, headers = request(port, path, cookie=cookie)
    cookie = headers["Set-Cookie"].split(";", 1)[0] if headers.get("Set-Cookie") else cookie
    return CSRF.search(body.decode()).group(1), cookie


def at_once(count: int, work) -> list:
    start = threading.Barrier(count)

    def run(index):
        start.wait()
        return work(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def log_form(seed: dict, token: str, day, description: str, hours: int) -> str:
    return urllib.parse.urlencode({
        "csrf_token": token, "occurred_on": [day.day, day.month, day.year], "hours": hours, "minutes": 0,
        "activity_type": "teaching", "description": description, "ksb_ids": seed["ksb"]}, doseq=True)


def count_rows(app, apprenticeship_id: int, day) -> tuple[int, int]:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import OtjActivity

    with app.app_context():
        rows = db.session.execute(select(func.count(), func.coalesce(func.sum(OtjActivity.minutes), 0)).where(
            OtjActivity.apprenticeship_id == apprenticeship_id, OtjActivity.occurred_on == day)).one()
        db.session.remove()
        return int(rows[0]), int(rows[1])


def one_run(app, port: int, number: int, sink) -> dict:
    from app.services import clock

    seed = seed_run(app, number)
    apprentice = sign_in(port, seed["apprentice"], PASSWORD)
    path = f"/apprenticeships/{seed['apprenticeship']}/off-the-job/new"
    token, apprentice = form_token(port, path, apprentice)

    # The same form 20 times at once.
    same_day = clock.today() - timedelta(days=5)
    body = log_form(seed, token, same_day, "Workshop on unit testing", 2)
    at_once(AT_ONCE, lambda _i: request(port, path, method="POST", body=body, cookie=apprentice))
    duplicates, _minutes = count_rows(app, seed["apprenticeship"], same_day)

    # 20 different one-hour entries for one day.
    busy_day = clock.today() - timedelta(days=6)
    at_once(AT_ONCE, lambda i: request(port, path, method="POST", cookie=apprentice,
                                       body=log_form(seed, token, busy_day, f"Study session {i}", 1)))
    _rows, minutes = count_rows(app, seed["apprenticeship"], busy_day)

    # Two coordinators deciding one entry.
    entry = f"/apprenticeships/{seed['apprenticeship']}/off-the-job/{seed['waiting']}"
    deciders = [sign_in(port, email, PASSWORD) for email in seed["coordinators"]]
    tokens, deciders = zip(*(form_token(port, entry, cookie) for cookie in deciders), strict=True)
    decisions = [{"decision": "approve"}, {"decision": "reject", "reason": "Not new learning"}]
    answers = at_once(2, lambda i: request(port, entry + "/decision", method="POST", cookie=deciders[i],
                                           body=urllib.parse.urlencode({**decisions[i], "csrf_token": tokens[i]})))
    told_success = sum(status == 302 for status, _body, _headers in answers)

    # 20 password resets at once, then four senders at once.
    sink.clear()
    _status, page, headers = request(port, "/forgot-password")
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    reset_token = CSRF.search(page.decode()).group(1)

    def reset(i):
        started = time.perf_counter()
        request(port, "/forgot-password", method="POST", cookie=cookie,
                body=urllib.parse.urlencode({"csrf_token": reset_token, "email": seed["resets"][i]}))
        return time.perf_counter() - started

    slowest = max(at_once(AT_ONCE, reset))
    senders = [subprocess.Popen([str(ROOT / ".venv" / "bin" / "flask"), "--app", "app", "outbox", "deliver"],
                                cwd=ROOT, env=dict(os.environ, SECRET_KEY=SECRET_KEY), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
               for _ in range(4)]
    for sender in senders:
        sender.wait(timeout=120)
    accepted = sink.count_for(seed["resets"])
    return {"rows": duplicates, "minutes": minutes, "told success": told_success, "emails": accepted,
            "slowest reset ms": round(slowest * 1000)}


class Sink:
    """An SMTP server that keeps the recipients of every message it accepts."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.recipients: list[str] = []
        self.lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, _server, _session, envelope):  # noqa: N802 - aiosmtpd's hook name
                with sink.lock:
                    sink.recipients.extend(envelope.rcpt_tos)
                return "250 OK"

        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, ready_timeout=5)
        self.controller.start()

    def clear(self):
        with self.lock:
            self.recipients.clear()

    def count_for(self, emails) -> int:
        wanted = set(emails)
        with self.lock:
            return sum(r in wanted for r in self.recipients)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--port", type=int, default=8137)
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    url = options.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='race-check-')}/pathways.db"
    sink = Sink()
    os.environ.update(DATABASE_URL=url, MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=str(sink.port),
                      ARGON2_TIME_COST="1", ARGON2_MEMORY_KIB="8192", ARGON2_PARALLELISM="1",
                      PATHWAYS_ENV="production", SESSION_COOKIE_SECURE="false", LOG_LEVEL="ERROR")
    build(url)
    from app import create_app

    app = create_app("development", SQLALCHEMY_DATABASE_URI=url)
    server = serve(url, options.port)
    try:
        results = [one_run(app, options.port, number, sink) for number in range(1, options.runs + 1)]
    finally:
        server.terminate()
        server.wait(timeout=30)
        sink.controller.stop()
    print(f"Races on {app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}, gunicorn 2 sync workers, "
          f"{options.runs} runs:")
    for key, want in (("rows", 1), ("minutes", 480), ("told success", 1), ("emails", AT_ONCE),
                      ("slowest reset ms", None)):
        figures = [r[key] for r in results]
        suffix = "" if want is None else f"   (want {want}; right in {sum(f == want for f in figures)} of "
        suffix += "" if want is None else f"{len(figures)})"
        print(f"  {key:>17}: {figures}{suffix}")


if __name__ == "__main__":
    main()
