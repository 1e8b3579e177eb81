"""Cohort review: the risk flags found by the latest refresh, each with its rating and a reason a coordinator
can act on. The table is rebuilt by the daily refresh (set-based SQL), so every page and export reads the
same flags and says when they were found."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.apprenticeships import Rag
from app.models.types import UTCDateTime, enum_column, utcnow

# The same red / amber / green scale as a progress review's rating (worst first; no flag is green).
RiskRating = Rag


class RiskFlag(db.Model):
    """One reason one apprenticeship or one enrolment is at risk. ``code`` names the rule (``otj_behind``,
    ``review_overdue``, ``not_started``…); ``reason`` is the sentence shown and exported; ``details`` keeps
    the figures behind it."""

    __table_args__ = (
        Index("ix_risk_flag_apprenticeship", "apprenticeship_id"),
        Index("ix_risk_flag_enrolment", "enrolment_id"),
        Index("ix_risk_flag_person", "person_id"),
        Index("ix_risk_flag_code_rating", "code", "rating"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    apprenticeship_id: Mapped[int | None] = mapped_column(ForeignKey("apprenticeship.id", ondelete="CASCADE"))
    enrolment_id: Mapped[int | None] = mapped_column(ForeignKey("enrolment.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    code: Mapped[str] = mapped_column(String(40))
    rating: Mapped[RiskRating] = mapped_column(enum_column(RiskRating))
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RiskStanding(db.Model):
    """Where one apprenticeship or one enrolment stood at the latest refresh: its rating (the worst of its flags,
    green with none), how many flags it has and, for an apprenticeship, its off-the-job progress against the plan
    to date. Review pages sort, filter and draw the spread of a whole cohort from these rows instead of working
    every plan out again on each request; they show the same "as at" time as the flags."""

    __table_args__ = (Index("ix_risk_standing_rating", "rating_rank"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    apprenticeship_id: Mapped[int | None] = mapped_column(
        ForeignKey("apprenticeship.id", ondelete="CASCADE"), unique=True)
    enrolment_id: Mapped[int | None] = mapped_column(ForeignKey("enrolment.id", ondelete="CASCADE"), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    rating: Mapped[RiskRating] = mapped_column(enum_column(RiskRating))
    # 0 red, 1 amber, 2 green: sorts worst first.
    rating_rank: Mapped[int]
    flag_count: Mapped[int] = mapped_column(default=0)
    approved_hours: Mapped[Decimal | None] = mapped_column(Numeric(9, 2))
    expected_hours: Mapped[Decimal | None] = mapped_column(Numeric(9, 2))
    percent_of_expected: Mapped[int | None]
    found_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
