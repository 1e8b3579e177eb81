"""Processes for tests/test_scheduler.py.

    python -m tests.scheduler_race race DATABASE_URL JOB BARRIER_DIR RACERS [NOW]

Runs one scheduled job in this process the moment every other process of the race is ready, bypassing the
scheduler and its lease, and prints the run as JSON: it proves that the jobs themselves (not the lease) stop two
schedulers acting at once from doing anything twice. NOW (ISO 8601, aware) fixes the reminders' clock, so the test
does not depend on the time of day it runs.

    python -m tests.scheduler_race serve DATABASE_URL WORK_LOG ITEMS

Runs a scheduler (as ``flask scheduler run`` does; settings from the environment) whose one job, ``send-slowly``,
works through ITEMS items one batch at a time: it records the next item in the database, then "sends" it by
appending ``ITEM PID`` to WORK_LOG, work that cannot be undone, as an email cannot. An item in the log twice was
done twice.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import datetime
from pathlib import Path

ITEM = "work-item-"


def race(url: str, job: str, barrier: str, racers: str, now: str | None = None) -> None:
    from app import create_app
    from app.services import reminders, scheduling

    if now:
        fixed = datetime.fromisoformat(now)
        reminders.utcnow = lambda: fixed
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        scheduling.get_job(job)
        from app.extensions import db

        db.session.connection()  # connected before the start, so both begin on the same footing
        db.session.rollback()
        folder = Path(barrier)
        (folder / f"ready-{os.getpid()}").touch()
        deadline = time.monotonic() + 30
        while len(list(folder.glob("ready-*"))) < int(racers) and time.monotonic() < deadline:
            time.sleep(0.002)
        run = scheduling.run_job(job, scheduling.SCHEDULE)
        print(json.dumps({"id": run.id, "outcome": run.outcome.value, "counts": run.counts, "error": run.error}))


def send_slowly(work_log: Path, items: int, pause: float = 0.03):
    def run(context) -> dict:
        from sqlalchemy import func, select

        from app.extensions import db
        from app.models import SignInAttempt

        done = 0
        while True:
            context.fence.check({"items": done})  # before each batch
            recorded = select(func.count()).select_from(SignInAttempt).where(SignInAttempt.account_digest.like(
                f"{ITEM}%"))
            item = db.session.scalar(recorded) + 1
            if item > items:
                return {"items": done}
            db.session.add(SignInAttempt(account_digest=f"{ITEM}{item}", client_address=f"pid {os.getpid()}"))
            db.session.commit()  # the scheduler checks its lease before this commit too
            with work_log.open("a") as log:
                log.write(f"{item} {os.getpid()}\n")
            done += 1
            time.sleep(pause)

    return run


def serve(url: str, work_log: str, items: str) -> None:
    from app import create_app
    from app.services import scheduling

    job = scheduling.Job("send-slowly", "Works through items one batch at a time.",
                         scheduling.every("Every hour", hours=1), send_slowly(Path(work_log), int(items)))
    scheduling.JOBS[job.name] = job
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stdout)
    logging.getLogger("pathways").setLevel(logging.INFO)
    scheduler = scheduling.Scheduler(app, jobs=[job])
    scheduler.install_signal_handlers()
    scheduler.serve()


if __name__ == "__main__":
    {"race": race, "serve": serve}[sys.argv[1]](*sys.argv[2:])
