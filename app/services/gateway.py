"""KSB coverage and the gateway checklist.

A KSB has evidence when at least one approved off-the-job entry built it, or when the latest completed
(all-signed) progress review rates it ready or complete. Placements that target a KSB are shown as a
source of evidence to come, but do not count on their own. Gateway is the employer's decision, taken with
the provider: the checklist says exactly what is still missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from app import policy
from app.extensions import db
from app.models import (
    Apprenticeship,
    ApprenticeshipStatus,
    EnglishMaths,
    Ksb,
    KsbKind,
    KsbProgressLevel,
    OtjActivity,
    OtjStatus,
    Person,
    Placement,
    ProgressReview,
)
from app.models.apprenticeships import otj_activity_ksb, placement_ksb
from app.models.types import utcnow
from app.services import ServiceError, apprenticeship_rules, audit, clock, hours, otj_totals
from app.services.progress_reviews import placement_in_force

LONDON = ZoneInfo("Europe/London")
READY_LEVELS = frozenset({KsbProgressLevel.READY, KsbProgressLevel.COMPLETE})
KIND_LABELS = {KsbKind.KNOWLEDGE: "Knowledge", KsbKind.SKILL: "Skills", KsbKind.BEHAVIOUR: "Behaviours"}


def _day(value: date) -> str:
    return f"{value:%-d %B %Y}"


def format_hours(value) -> str:
    """312.50 -> "312.5", 400.00 -> "400" (``hours.text``, the one rounding)."""
    return hours.text(value)


# KSB coverage ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KsbCoverage:
    ksb: Ksb
    approved_entries: int
    approved_hours: Decimal
    placements: tuple[Placement, ...]
    # The level given at the latest completed review; None when no review is complete.
    review_level: KsbProgressLevel | None

    @property
    def evidenced(self) -> bool:
        return self.approved_entries > 0 or self.review_level in READY_LEVELS


@dataclass(frozen=True)
class KindCoverage:
    kind: KsbKind
    label: str
    total: int
    evidenced: int

    @property
    def missing(self) -> int:
        return self.total - self.evidenced


def latest_completed_review(apprenticeship: Apprenticeship) -> ProgressReview | None:
    return db.session.scalar(
        select(ProgressReview)
        .where(ProgressReview.apprenticeship_id == apprenticeship.id, ProgressReview.completed_at.is_not(None))
        .order_by(ProgressReview.held_on.desc(), ProgressReview.sequence.desc()).limit(1)
        .options(selectinload(ProgressReview.ksb_progress))
    )


def ksb_coverage(apprenticeship: Apprenticeship) -> list[KsbCoverage]:
    """Every KSB of the apprentice's standard version with its evidence, in a fixed number of queries."""
    ksbs = db.session.scalars(
        select(Ksb).where(Ksb.standard_version_id == apprenticeship.standard_version_id).order_by(Ksb.position)
    ).all()
    otj = {
        ksb_id: (entries, minutes)
        for ksb_id, entries, minutes in db.session.execute(
            select(otj_activity_ksb.c.ksb_id, func.count(OtjActivity.id), func.sum(OtjActivity.minutes))
            .join(OtjActivity, OtjActivity.id == otj_activity_ksb.c.otj_activity_id)
            .where(OtjActivity.apprenticeship_id == apprenticeship.id, OtjActivity.status == OtjStatus.APPROVED)
            .group_by(otj_activity_ksb.c.ksb_id)
        )
    }
    placements = {
        p.id: p for p in db.session.scalars(
            select(Placement).where(Placement.apprenticeship_id == apprenticeship.id).order_by(Placement.starts_on)
            .options(joinedload(Placement.host_organisation), joinedload(Placement.team))
        )
    }
    targeted: dict[int, list[Placement]] = {}
    for placement_id, ksb_id in db.session.execute(
        select(placement_ksb.c.placement_id, placement_ksb.c.ksb_id)
        .join(Placement, Placement.id == placement_ksb.c.placement_id)
        .where(Placement.apprenticeship_id == apprenticeship.id)
    ):
        targeted.setdefault(ksb_id, []).append(placements[placement_id])
    review = latest_completed_review(apprenticeship)
    levels = {p.ksb_id: p.level for p in review.ksb_progress} if review else {}
    coverage = []
    for ksb in ksbs:
        entries, minutes = otj.get(ksb.id, (0, 0))
        coverage.append(KsbCoverage(
            ksb=ksb, approved_entries=entries,
            approved_hours=(Decimal(minutes or 0) / 60).quantize(otj_totals.TWO_PLACES),
            placements=tuple(sorted(targeted.get(ksb.id, []), key=lambda p: p.starts_on)),
            review_level=levels.get(ksb.id),
        ))
    return coverage


def coverage_summary(coverage: list[KsbCoverage]) -> list[KindCoverage]:
    """How many knowledge, skills and behaviours have evidence."""
    return [
        KindCoverage(kind, label, total=sum(1 for c in coverage if c.ksb.kind is kind),
                     evidenced=sum(1 for c in coverage if c.ksb.kind is kind and c.evidenced))
        for kind, label in KIND_LABELS.items()
    ]


# The gateway checklist -------------------------------------------------------------------------


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str
    met: bool
    # What is there, or exactly what is missing, in plain English.
    detail: str


@dataclass(frozen=True)
class GatewayChecklist:
    items: tuple[ChecklistItem, ...]
    as_of: date

    @property
    def ready(self) -> bool:
        return all(item.met for item in self.items)

    @property
    def missing(self) -> list[str]:
        return [item.detail for item in self.items if not item.met]


def minimum_duration_end(apprenticeship: Apprenticeship, as_of: date | None = None) -> tuple[date, int]:
    """The earliest end of the practical period: the rule set's minimum from the start, moved on by the days
    spent in breaks in learning before it (a break still going on counts up to ``as_of``). Returns the date
    and the break days added."""
    as_of = as_of or clock.today()
    rule_set = apprenticeship_rules.RULE_SETS_BY_KEY[apprenticeship.rule_set]
    base = apprenticeship_rules.minimum_end(apprenticeship.starts_on, rule_set, apprenticeship.weekly_hours)
    days = 0
    while True:
        # Only breaks before the (moving) end push it on; each pass can only add days, so this settles.
        counted = otj_totals.break_days_until(apprenticeship, min(base + timedelta(days=days - 1), as_of))
        if counted == days:
            return base + timedelta(days=days), days
        days = counted


def _months_text(apprenticeship: Apprenticeship) -> str:
    rule_set = apprenticeship_rules.RULE_SETS_BY_KEY[apprenticeship.rule_set]
    months = apprenticeship_rules.minimum_months(rule_set, apprenticeship.weekly_hours)
    text = f"{format_hours(months.quantize(Decimal('0.1')))} months"
    if months != rule_set.minimum_months:
        text += f" for {format_hours(apprenticeship.weekly_hours)} hours a week"
    return text


def _minimum_duration(apprenticeship: Apprenticeship, as_of: date) -> ChecklistItem:
    end, break_days = minimum_duration_end(apprenticeship, as_of)
    why = _months_text(apprenticeship)
    if break_days:
        why += f" plus {break_days} day{'s' if break_days != 1 else ''} of breaks"
    met = as_of >= end
    detail = f"Minimum practical period {'ended' if met else 'ends'} on {_day(end)} ({why})"
    return ChecklistItem("minimum_duration", "Minimum duration", met, detail)


def _off_the_job(apprenticeship: Apprenticeship, as_of: date) -> ChecklistItem:
    totals = otj_totals.totals(apprenticeship, as_of)
    detail = (f"{format_hours(totals.approved_hours)} of {format_hours(totals.planned_hours)} planned "
              "off-the-job hours approved")
    if not totals.met:
        to_go = Decimal(totals.planned_hours) - totals.approved_hours
        detail += f": {format_hours(to_go)} hour{'' if to_go == 1 else 's'} to go"
    return ChecklistItem("off_the_job", "Off-the-job hours", totals.met, detail)


def _english_maths(apprenticeship: Apprenticeship) -> ChecklistItem:
    decision = apprenticeship.english_maths
    detail = {
        EnglishMaths.REQUIRED: "English and maths: required, not yet achieved",
        EnglishMaths.ACHIEVED: "English and maths: achieved",
        EnglishMaths.NOT_REQUIRED: "English and maths: not required",
    }[decision]
    return ChecklistItem("english_maths", "English and maths", decision is not EnglishMaths.REQUIRED, detail)


def _ksbs(coverage: list[KsbCoverage]) -> ChecklistItem:
    missing = [c.ksb.code for c in coverage if not c.evidenced]
    if missing:
        detail = f"No evidence yet for {', '.join(missing)}"
    elif coverage:
        detail = f"Every KSB has evidence ({len(coverage)} of {len(coverage)})"
    else:
        detail = "The standard version lists no KSBs"
    return ChecklistItem("ksbs", "Evidence for every KSB", not missing, detail)


def _employer(apprenticeship: Apprenticeship) -> ChecklistItem:
    agreed_at = apprenticeship.employer_gateway_agreed_at
    if agreed_at is None:
        return ChecklistItem("employer_agreement", "Employer's agreement", False,
                             "The employer has not yet agreed the apprentice is ready")
    who = apprenticeship.employer_gateway_agreed_by
    by = f" by {who.name}" if who is not None else ""
    return ChecklistItem("employer_agreement", "Employer's agreement", True,
                         f"Agreed{by} on {_day(agreed_at.astimezone(LONDON).date())}")


def checklist(apprenticeship: Apprenticeship, as_of: date | None = None, *,
              coverage: list[KsbCoverage] | None = None) -> GatewayChecklist:
    """What gateway needs, each item met or not with what is missing. Pass ``coverage`` when the page has
    already worked it out."""
    as_of = as_of or clock.today()
    if coverage is None:
        coverage = ksb_coverage(apprenticeship)
    return GatewayChecklist(items=(
        _minimum_duration(apprenticeship, as_of),
        _off_the_job(apprenticeship, as_of),
        _english_maths(apprenticeship),
        _ksbs(coverage),
        _employer(apprenticeship),
    ), as_of=as_of)


# The employer's agreement ----------------------------------------------------------------------

SETTLED = (ApprenticeshipStatus.WITHDRAWN, ApprenticeshipStatus.COMPLETED)
PAST_GATEWAY = (ApprenticeshipStatus.END_POINT_ASSESSMENT, ApprenticeshipStatus.COMPLETED)


def may_agree(person: Person, apprenticeship: Apprenticeship) -> bool:
    """The supervisor of the current placement (for the employer) or a coordinator of the record; never the
    apprentice."""
    if not person.is_authenticated or apprenticeship.apprentice_id == person.id:
        return False
    if policy.can_edit_apprenticeship(person, apprenticeship):
        return True
    current = placement_in_force(apprenticeship, clock.today())
    return current is not None and current.supervisor_id == person.id


def _check_may_change(actor: Person, apprenticeship: Apprenticeship) -> None:
    if not may_agree(actor, apprenticeship):
        raise ServiceError("Only the supervisor of the current placement or a coordinator can record the "
                           "employer's agreement")
    if apprenticeship.status in SETTLED:
        raise ServiceError(f"This apprenticeship is {apprenticeship.status.label.lower()}, so the employer's "
                           "agreement can no longer change")


def record_employer_agreement(actor: Person, apprenticeship: Apprenticeship) -> Apprenticeship:
    """The employer agrees the apprentice is ready for gateway."""
    _check_may_change(actor, apprenticeship)
    if apprenticeship.employer_gateway_agreed_at is not None:
        raise ServiceError("The employer has already agreed the apprentice is ready")
    apprenticeship.employer_gateway_agreed_at = utcnow()
    apprenticeship.employer_gateway_agreed_by_id = actor.id
    apprenticeship.employer_gateway_agreed_by = actor
    db.session.flush()
    audit.record(actor, "apprenticeship.gateway_agreed", apprenticeship,
                 f"Recorded the employer's agreement that {apprenticeship.apprentice.name} is ready for gateway")
    return apprenticeship


def withdraw_employer_agreement(actor: Person, apprenticeship: Apprenticeship) -> Apprenticeship:
    _check_may_change(actor, apprenticeship)
    if apprenticeship.employer_gateway_agreed_at is None:
        raise ServiceError("The employer has not agreed the apprentice is ready, so there is nothing to withdraw")
    if apprenticeship.status is ApprenticeshipStatus.GATEWAY:
        raise ServiceError("The apprentice is at gateway: move them back to learning first if the employer no longer "
                           "agrees they are ready")
    if apprenticeship.status in PAST_GATEWAY:
        raise ServiceError("The apprentice has gone through gateway, so the employer's agreement stands")
    apprenticeship.employer_gateway_agreed_at = None
    apprenticeship.employer_gateway_agreed_by_id = None
    apprenticeship.employer_gateway_agreed_by = None
    db.session.flush()
    audit.record(actor, "apprenticeship.gateway_agreement_withdrawn", apprenticeship,
                 f"Withdrew the employer's agreement that {apprenticeship.apprentice.name} is ready for gateway")
    return apprenticeship
