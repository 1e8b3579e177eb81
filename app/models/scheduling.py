"""Scheduled jobs as they ran: each run with its start, end, outcome, counts and error, for the admin page
and so a failed run is retried at the next tick; and the lease that says which scheduler process runs them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, enum_column, utcnow


class JobOutcome(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class JobRun(db.Model):
    """One run of one job. ``trigger`` says how it started: ``schedule``, ``retry`` or ``run-once``."""

    __table_args__ = (Index("ix_job_run_job_started", "job", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(60))
    trigger: Mapped[str] = mapped_column(String(20), default="schedule")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[JobOutcome] = mapped_column(enum_column(JobOutcome), default=JobOutcome.RUNNING)
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(200), default="")
    pid: Mapped[int] = mapped_column(default=0)
    # The fencing token of the lease its scheduler held; None for a run started by hand (run-once, "Run now").
    lease_token: Mapped[int | None] = mapped_column(BigInteger)


class SchedulerLease(db.Model):
    """The one scheduler process that runs the jobs: who holds the lease, its fencing token (one more at every
    takeover, so work begun under an older token can be refused) and when it runs out unless renewed. Times
    are the database's clock, never a scheduler's, so schedulers on different servers agree."""

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    token: Mapped[int] = mapped_column(BigInteger)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
