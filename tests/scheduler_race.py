"""Run one scheduled job in this process the moment every other process of the race is ready, bypassing the
scheduler and its lock, and print the run as JSON. Used by tests/test_scheduler.py to prove that the jobs
themselves (not the lock) stop two schedulers acting at once from doing anything twice.

    python -m tests.scheduler_race DATABASE_URL JOB BARRIER_DIR RACERS [NOW]

NOW (ISO 8601, aware) fixes the reminders' clock, so the test does not depend on the time of day it runs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path


def main(url: str, job: str, barrier: str, racers: str, now: str | None = None) -> None:
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


if __name__ == "__main__":
    main(*sys.argv[1:])
