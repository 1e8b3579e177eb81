"""The cohort review's rows, written ahead of time: one per apprenticeship with everything the review pages show,
sort and filter on, so a page is one indexed query over one narrow table instead of a join of seven. Written by
``services/review_rows.py`` whenever the record, its placements, its hours or its flags change, and rebuilt by
the daily refresh; never edited by hand."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.apprenticeships import ApprenticeshipStatus
from app.models.cohorts import RiskRating
from app.models.types import UTCDateTime, enum_column, utcnow


class ApprenticeshipReviewRow(db.Model):
    """One apprenticeship as the review shows it. ``pending`` is 1 until its flags are first worked out (no
    rating or progress yet: "Not worked out yet", sorted last); ``sort_name`` and ``search_text`` are the name
    lower-cased, and the name and email lower-cased, for sorting and searching; ``flag_mask`` has a bit per flag
    code (``risk.CODE_ORDER``) for the flag filter; ``flags`` and ``placements`` are JSON lists in display order."""

    __table_args__ = (
        # The default sort (rating, red first, then name) within an intake and of everyone; also the rating filter
        # sorted by name. The columns after the sort's let the count, the spread of progress and the "as at" time
        # of a cohort (filtered by rating or flag or not) be read from the index alone.
        Index("ix_review_row_intake_rating", "intake_id", "pending", "rating_rank", "sort_name", "apprenticeship_id",
              "progress_band", "flag_mask", "worked_out_at"),
        Index("ix_review_row_rating", "pending", "rating_rank", "sort_name", "apprenticeship_id", "progress_band",
              "flag_mask", "worked_out_at"),
        Index("ix_review_row_intake_progress", "intake_id", "pending", "percent_of_expected", "sort_name",
              "apprenticeship_id"),
        Index("ix_review_row_name", "sort_name", "apprenticeship_id"),
        Index("ix_review_row_employer", "employer_id", "intake_id"),
        Index("ix_review_row_standard", "standard_id", "intake_id"),
        Index("ix_review_row_written", "written_at"),
    )

    apprenticeship_id: Mapped[int] = mapped_column(
        ForeignKey("apprenticeship.id", ondelete="CASCADE"), primary_key=True, autoincrement=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    name: Mapped[str] = mapped_column(String(200))
    sort_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    search_text: Mapped[str] = mapped_column(String(530))
    employer_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    employer_name: Mapped[str] = mapped_column(String(200))
    standard_id: Mapped[int] = mapped_column(ForeignKey("standard.id"))
    standard_label: Mapped[str] = mapped_column(String(240))
    intake_id: Mapped[int | None] = mapped_column(ForeignKey("intake.id"))
    intake_name: Mapped[str] = mapped_column(String(100))  # empty without an intake
    status: Mapped[ApprenticeshipStatus] = mapped_column(enum_column(ApprenticeshipStatus, 30))
    status_order: Mapped[int]  # lifecycle order, for sorting by status
    starts_on: Mapped[date]
    ends_on: Mapped[date]  # the actual end, else the planned end
    pending: Mapped[int]
    rating: Mapped[RiskRating | None] = mapped_column(enum_column(RiskRating))
    rating_rank: Mapped[int | None]  # 0 red, 1 amber, 2 green
    approved_hours: Mapped[Decimal | None] = mapped_column(Numeric(9, 2))
    expected_hours: Mapped[Decimal | None] = mapped_column(Numeric(9, 2))
    percent_of_expected: Mapped[int | None]
    progress_band: Mapped[int]  # the histogram's band of the percentage (-1 while pending)
    flag_mask: Mapped[int]
    flags: Mapped[str] = mapped_column(Text)  # [[code, rating, reason], ...], worst first
    placements: Mapped[str] = mapped_column(Text)  # [[starts_on, ends_on, host id, host name], ...], by start
    worked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # when the flags were found
    written_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApprenticeshipReviewScope(db.Model):
    """Who may see a review row: the apprenticeship's employer and every host organisation of its placements, past
    or future (as ``policy.apprenticeship_scope_filter``), so a borough coordinator's page is one indexed look-up.
    The row's intake, employer and standard are repeated here, so that the filters a borough coordinator is
    offered come from this index alone."""

    __table_args__ = (
        Index("ix_review_scope_organisation", "organisation_id", "apprenticeship_id"),
        Index("ix_review_scope_choices", "organisation_id", "intake_id", "employer_id", "standard_id"),
    )

    apprenticeship_id: Mapped[int] = mapped_column(
        ForeignKey("apprenticeship.id", ondelete="CASCADE"), primary_key=True, autoincrement=False)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), primary_key=True,
                                                 autoincrement=False)
    intake_id: Mapped[int | None] = mapped_column(ForeignKey("intake.id"))
    employer_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    standard_id: Mapped[int] = mapped_column(ForeignKey("standard.id"))
