"""What the apprentice's home shows: how they stand and what to do next.

For the apprenticeship ``apprenticeships.current_apprenticeship`` picks (the one in progress, else the latest):
approved off-the-job hours against those expected by today (read as the record page reads them, so the figures
match), the placement now and the next, the next progress review, reviews waiting for their signature, rejected
hours still to put right and what gateway still needs. A fixed number of statements however long the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

from sqlalchemy import and_, bindparam, exists, func, select
from sqlalchemy.orm import aliased

from app import policy
from app.extensions import db
from app.models import OtjActivity, OtjStatus, Person, SigningParty
from app.services import apprenticeships, gateway, otj_totals, progress_reviews
from app.services import off_the_job as otj

# How many rejected entries the panel lists; the rest are one click away on the off-the-job page.
REJECTED_SHOWN = 5
# Before gateway the checklist says what is still missing; after it (or once the record is closed) it is history.
GATEWAY_BEHIND = frozenset(gateway.PAST_GATEWAY) | frozenset(gateway.SETTLED)


@dataclass(frozen=True)
class HoursAgainstPlan:
    """Approved off-the-job hours against the pro rata share expected by today, as the record page shows them."""

    totals: otj_totals.OtjTotals

    @property
    def approved(self) -> str:
        return otj.format_hours(self.totals.approved_hours)

    @property
    def expected(self) -> str:
        return otj.format_hours(self.totals.expected_hours)

    @property
    def planned(self) -> str:
        return otj.format_hours(self.totals.planned_hours)

    @property
    def waiting(self) -> str:
        return otj.format_hours(self.totals.waiting_hours)

    @property
    def behind(self) -> str:
        return otj.format_hours(self.totals.behind_hours)

    @property
    def percent(self) -> int:
        return self.totals.percent_of_expected

    @property
    def bar_step(self) -> int:
        """The bar's width in the tens the stylesheet offers (the page's CSP allows no inline widths)."""
        return min(self.percent, 100) // 10 * 10

    @property
    def none_expected_yet(self) -> bool:
        return not self.totals.expected_hours

    @property
    def on_track(self) -> bool:
        return self.totals.behind_hours == 0


@dataclass(frozen=True)
class PlacementShown:
    id: int
    host_organisation_name: str
    team_name: str
    supervisor_name: str
    starts_on: date
    ends_on: date


@dataclass(frozen=True)
class NextReview:
    sequence: int
    due_on: date
    overdue: bool
    due_soon: bool


@dataclass(frozen=True)
class RejectedEntry:
    id: int
    occurred_on: date
    minutes: int
    rejection_reason: str | None

    @property
    def duration(self) -> str:
        return otj.describe_minutes(self.minutes)


@dataclass(frozen=True)
class ReviewToSign:
    review_id: int
    sequence: int


@dataclass(frozen=True)
class ApprenticePanel:
    """None of the record's parts when there is no record yet (``apprenticeship_id`` is None)."""

    apprenticeship_id: int | None = None
    standard_title: str = ""
    standard_level: int = 0
    status_label: str = ""
    in_progress: bool = False
    may_log: bool = False
    hours: HoursAgainstPlan | None = None
    current_placement: PlacementShown | None = None
    next_placement: PlacementShown | None = None
    next_review: NextReview | None = None
    reviews_to_sign: tuple[ReviewToSign, ...] = ()
    rejected: tuple[RejectedEntry, ...] = ()
    rejected_count: int = 0
    gateway_shown: bool = False
    gateway_missing: tuple[str, ...] = ()


def panel(person: Person, today: date) -> ApprenticePanel | None:
    """The apprentice's panel, or None when the person is not one."""
    if not policy.is_apprentice(person):
        return None
    current = apprenticeships.current_apprenticeship(person)
    if current is None:
        return ApprenticePanel()
    record = apprenticeships.record(current.id)
    in_progress = record.status in apprenticeships.IN_PROGRESS
    figures = otj_totals.figures(record, today)
    placement_now, placement_next = _placements(record, today)
    rejected, rejected_count = _rejected_to_fix(record.id) if figures.entries.get(OtjStatus.REJECTED) else ((), 0)
    gateway_shown = record.status not in GATEWAY_BEHIND
    return ApprenticePanel(
        apprenticeship_id=record.id,
        standard_title=record.standard_version.standard.title,
        standard_level=record.standard_version.standard.level,
        status_label=record.status.label,
        in_progress=in_progress,
        may_log=otj.closed_reason(record) is None,
        hours=HoursAgainstPlan(figures.totals),
        current_placement=placement_now,
        next_placement=placement_next,
        next_review=_next_review(record, today) if in_progress else None,
        reviews_to_sign=tuple(ReviewToSign(w.review_id, w.sequence)
                              for w in progress_reviews.reviews_waiting_for(person)
                              if w.apprenticeship_id == record.id and SigningParty.APPRENTICE in w.parties),
        rejected=rejected,
        rejected_count=rejected_count,
        gateway_shown=gateway_shown,
        gateway_missing=tuple(gateway.checklist(current, today).missing) if gateway_shown else (),
    )


def _placements(record, today: date) -> tuple[PlacementShown | None, PlacementShown | None]:
    """The placement in force today and the first to start after it."""
    now = apprenticeships.current_placement(record, today)
    after = next((p for p in record.placements if p.starts_on > today), None)
    return _shown(now), _shown(after)


def _shown(placement) -> PlacementShown | None:
    if placement is None:
        return None
    return PlacementShown(placement.id, placement.host_organisation_name, placement.team_name,
                          placement.supervisor_name, placement.starts_on, placement.ends_on)


def _next_review(record, today: date) -> NextReview | None:
    """The first review not yet held (the record page's next review), overdue once its due date has passed."""
    review = record.next_review
    if review is None:
        return None
    overdue = review.due_on < today
    due_soon = not overdue and (review.due_on - today).days <= progress_reviews.DUE_SOON_DAYS
    return NextReview(review.sequence, review.due_on, overdue, due_soon)


@cache
def _rejected_query():
    """Built once: ``:apprenticeship_id``'s rejected entries still to put right, newest first, with how many in
    all. An entry is put right once hours are logged again for its day after it was rejected."""
    again = aliased(OtjActivity)
    logged_again = exists().where(
        and_(again.apprenticeship_id == OtjActivity.apprenticeship_id, again.occurred_on == OtjActivity.occurred_on,
             again.status != OtjStatus.REJECTED, again.id != OtjActivity.id,
             again.logged_at >= OtjActivity.decided_at))
    return (
        select(OtjActivity.id, OtjActivity.occurred_on, OtjActivity.minutes, OtjActivity.rejection_reason,
               func.count().over())
        .where(OtjActivity.apprenticeship_id == bindparam("apprenticeship_id"),
               OtjActivity.status == OtjStatus.REJECTED, ~logged_again)
        .order_by(OtjActivity.occurred_on.desc(), OtjActivity.id.desc())
        .limit(REJECTED_SHOWN)
    )


def _rejected_to_fix(apprenticeship_id: int) -> tuple[tuple[RejectedEntry, ...], int]:
    rows = db.session.connection().execute(_rejected_query(), {"apprenticeship_id": apprenticeship_id}).all()
    return tuple(RejectedEntry(*row[:-1]) for row in rows), (rows[0][-1] if rows else 0)

