"""Risk flags for the cohort review: which apprenticeships and course enrolments are at risk, and why.

``refresh_flags()`` recomputes every flag (or the flags of the given apprenticeships and enrolments) and
replaces the old ``RiskFlag`` rows in the caller's transaction: one DELETE, then one bulk INSERT; then the
standings, and the review rows of the apprenticeships it refreshed (``services/review_rows.py``), the same way.
The facts come from a fixed number of set-based selects over everything in scope, whatever the number of people:

1. the live apprenticeships, with the columns the rules need;
2. their breaks in learning;
3. approved and waiting off-the-job minutes per apprenticeship: in all, in the last complete calendar month
   and in the month before (one grouped select with conditional sums);
4. overdue reviews per apprenticeship (``progress_reviews.overdue_reviews_query``, grouped);
5. reviews held 14+ days ago still waiting for signatures (``progress_reviews.unsigned_reviews_query``, grouped
   by review): the oldest per apprenticeship, with the parties who signed it, and how many wait;
6. the placements of active apprenticeships, with the host organisation's name;
7. KSBs per standard version, and KSBs with evidence per apprenticeship whose planned end is near (a UNION of
   approved off-the-job entries' KSBs and the ready/complete levels of the latest completed review, picked
   with a window function), for the gateway approximation;
8. enrolled course enrolments, with their run and whether any lesson or check was touched.

Expected off-the-job hours are worked out in Python, by ``otj_totals.expected_hours`` itself, over the
columns loaded by queries 1 and 2 (a stand-in record carries them; no query per record): the pro rata share
with break days taken off both the elapsed time and the whole period needs date arithmetic that SQLite and
PostgreSQL spell differently. The same goes for the minimum duration (``gateway.minimum_duration_end``) and
for placement gaps, which walk each apprenticeship's placement rows loaded by query 6.

Which apprenticeships each rule looks at: the placement, hours, overdue review and planned end rules only at
active ones (a break in learning pauses them; at gateway and assessment the practical period is over);
unsigned reviews also at gateway and end-point assessment, since those reviews still need signing. Withdrawn
and completed apprenticeships, and those in a break in learning, get no flags.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    Date,
    Integer,
    and_,
    bindparam,
    case,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    union,
)
from sqlalchemy.orm import aliased

from app.extensions import db
from app.models import (
    Apprenticeship,
    ApprenticeshipStatus,
    BreakInLearning,
    CheckAttempt,
    Course,
    CourseRun,
    EnglishMaths,
    Enrolment,
    EnrolmentStatus,
    Ksb,
    LessonProgress,
    Organisation,
    OtjActivity,
    OtjStatus,
    Placement,
    ProgressReview,
    ReviewKsbProgress,
    ReviewSignature,
    RiskFlag,
    RiskRating,
    RiskStanding,
    SigningParty,
)
from app.models.apprenticeships import otj_activity_ksb
from app.models.types import utcnow
from app.services import clock, gateway, hours, otj_totals, progress_reviews, review_rows

# Thresholds ------------------------------------------------------------------------------------

# Off-the-job hours approved against the pro rata plan to date. Under 90% is a slip worth a word at the next
# review; under 75% the apprentice is a quarter behind, which rarely recovers without a plan of catch-up days.
OTJ_BEHIND_AMBER = Decimal("0.90")
OTJ_BEHIND_RED = Decimal("0.75")
# In the first four weeks the plan to date is a handful of hours, so one late approval would swing the ratio.
OTJ_GRACE_DAYS = 28
# Funding rules expect active learning in every calendar month: one empty complete month is amber, two in a
# row red (the point where a break in learning should be considered).
NO_OTJ_RED_MONTHS = 2
# A review held but not signed by all three within two weeks is stalling: signatures are what make it count.
REVIEW_UNSIGNED_DAYS = 14
# Gaps between placements are flagged while there is still time to arrange the next placement (90 days,
# about the time a host team needs); a placement ending within 14 days with nothing after it is urgent.
PLACEMENT_GAP_DAYS = 90
PLACEMENT_ENDING_DAYS = 14
# Gateway preparation (evidence, the employer's agreement, booking the assessment) takes about three months;
# inside a month of the planned end it is red.
END_NEAR_DAYS = 90
END_NEAR_RED_DAYS = 30
# A learner enrolled two weeks ago (or two weeks into the run) who has opened nothing has probably forgotten.
NOT_STARTED_DAYS = 14
# A run ending within a week with the course not complete needs a nudge; within two days (or ended), red.
DEADLINE_DAYS = 7
DEADLINE_RED_DAYS = 2

ACTIVE = ApprenticeshipStatus.ACTIVE
LIVE_STATUSES = (ApprenticeshipStatus.ACTIVE, ApprenticeshipStatus.GATEWAY, ApprenticeshipStatus.END_POINT_ASSESSMENT)

CODES: dict[str, str] = {
    "otj_behind": "Off-the-job hours behind plan",
    "no_otj_month": "No off-the-job hours in a month",
    "review_overdue": "Progress review overdue",
    "review_unsigned": "Progress review not signed",
    "no_placement": "No placement",
    "placement_gap": "Gap between placements",
    "placement_ending": "Placement ending, nothing next",
    "end_near_gateway_not_ready": "End near, not ready for gateway",
    "not_started": "Course not started",
    "deadline_near": "Course run ending, not complete",
}

RULES: dict[str, str] = {
    "otj_behind": f"Approved off-the-job hours below {OTJ_BEHIND_AMBER:.0%} of the pro rata plan to date (amber) "
                  f"or below {OTJ_BEHIND_RED:.0%} (red); not in the first {OTJ_GRACE_DAYS} days.",
    "no_otj_month": "No approved off-the-job hours dated in the last complete calendar month (amber), or in the "
                    f"last {NO_OTJ_RED_MONTHS} (red); only months the apprenticeship was live throughout, "
                    "outside any break.",
    "review_overdue": "A progress review's due date has passed and it has not been held (red).",
    "review_unsigned": f"A progress review held {REVIEW_UNSIGNED_DAYS} or more days ago is not yet signed by the "
                       "apprentice, the employer and a coordinator (amber).",
    "no_placement": "No placement in force today (red).",
    "placement_gap": f"A day or more without a placement, starting within {PLACEMENT_GAP_DAYS} days and before "
                     "the planned end (amber).",
    "placement_ending": f"The current placement ends within {PLACEMENT_ENDING_DAYS} days and no placement starts "
                        "the day after (amber).",
    "end_near_gateway_not_ready": f"Planned end within {END_NEAR_DAYS} days (amber) or {END_NEAR_RED_DAYS} days or "
                                  "passed (red) and something gateway needs is missing: the employer's agreement, "
                                  "the planned off-the-job hours, English and maths, evidence for every KSB, or a "
                                  "minimum duration that the planned end meets.",
    "not_started": f"Enrolled on a course run {NOT_STARTED_DAYS} or more days ago (counted from the run's start "
                   "when later) and no lesson or check opened yet (amber).",
    "deadline_near": f"The course run ends within {DEADLINE_DAYS} days (amber), within {DEADLINE_RED_DAYS} days or "
                     "has ended (red), and the course is not complete.",
}

RATING_ORDER = {RiskRating.RED: 0, RiskRating.AMBER: 1, RiskRating.GREEN: 2}
# The PostgreSQL advisory lock a refresh holds until its transaction ends, so that two refreshes at once (the
# daily job and a page's "Refresh the flags now") take turns instead of both inserting a full set of rows.
# A refresh of a few apprenticeships (after a change to one record) shares it, and takes a lock of each record's
# own (key, apprenticeship id) instead: changes to different records never wait for each other.
REFRESH_LOCK_KEY = 7_301_005
FEW_RECORDS = 50
CODE_ORDER = {code: n for n, code in enumerate(CODES)}


# Helpers for pages and exports -----------------------------------------------------------------


def worst(ratings) -> RiskRating:
    """The worst of some ratings (red, then amber); green when there are none."""
    found = {RiskRating(r) for r in ratings}
    return min(found, key=RATING_ORDER.__getitem__, default=RiskRating.GREEN)


def _sorted(flags) -> list[RiskFlag]:
    return sorted(flags, key=lambda f: (RATING_ORDER[f.rating], CODE_ORDER.get(f.code, 99), f.id))


def flags_for_apprenticeship(apprenticeship) -> list[RiskFlag]:
    """The apprenticeship's flags from the latest refresh, red first."""
    return _sorted(db.session.scalars(select(RiskFlag).where(RiskFlag.apprenticeship_id == apprenticeship.id)))


def flags_for_enrolment(enrolment) -> list[RiskFlag]:
    """The enrolment's flags from the latest refresh, red first."""
    return _sorted(db.session.scalars(select(RiskFlag).where(RiskFlag.enrolment_id == enrolment.id)))


def last_refreshed(*, enrolments: bool = False) -> datetime | None:
    """When the newest flags and standings were found (of enrolments only, with ``enrolments``): the
    ``found_at`` of the latest refresh (its standings are the newest rows, so a step or a few down the primary
    key), or None before any refresh."""
    query = select(RiskStanding.found_at).order_by(RiskStanding.id.desc()).limit(1)
    if enrolments:
        query = query.where(RiskStanding.enrolment_id.is_not(None))
    return db.session.scalar(query)


# Wording ---------------------------------------------------------------------------------------


def _day(value: date) -> str:
    return f"{value:%-d %B %Y}"


def _hours(value: Decimal) -> str:
    """Hours as every page shows them (``hours.text``): 112, 112.5, 466.47."""
    return hours.text(value)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _when(day: date, today: date) -> str:
    """"in 7 days", "today", "3 days ago"."""
    days = (day - today).days
    if days == 0:
        return "today"
    if days > 0:
        return f"in {_plural(days, 'day')}"
    return f"{_plural(-days, 'day')} ago"


def _and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _month(first: date) -> str:
    return f"{first:%B %Y}"


def _month_bounds(today: date) -> tuple[tuple[date, date], tuple[date, date]]:
    """The last complete calendar month and the one before it, as (first day, last day)."""
    last_end = today.replace(day=1) - timedelta(days=1)
    last_start = last_end.replace(day=1)
    before_end = last_start - timedelta(days=1)
    return (last_start, last_end), (before_end.replace(day=1), before_end)


def _minutes_to_hours(minutes) -> Decimal:
    return hours.from_minutes(minutes)


# The facts, loaded set-based -------------------------------------------------------------------


@dataclass(frozen=True)
class _Break:
    starts_on: date
    ends_on: date | None


@dataclass
class _Record:
    """The columns of an apprenticeship the rules read, shaped like the model so ``otj_totals`` and
    ``gateway`` compute on it exactly as they do on a record."""

    id: int
    apprentice_id: int
    status: ApprenticeshipStatus
    starts_on: date
    planned_end_on: date
    actual_end_on: date | None
    planned_otj_hours: int
    rule_set: str
    weekly_hours: Decimal
    employer_gateway_agreed_at: datetime | None
    english_maths: EnglishMaths
    standard_version_id: int
    breaks: list[_Break] = field(default_factory=list)


@dataclass
class _Flags:
    rows: list[dict] = field(default_factory=list)
    found_at: datetime = field(default_factory=utcnow)

    def add(self, code: str, rating: RiskRating, reason: str, *, person_id: int, apprenticeship_id=None,
            enrolment_id=None, **details: Any) -> None:
        self.rows.append({
            "apprenticeship_id": apprenticeship_id, "enrolment_id": enrolment_id, "person_id": person_id,
            "code": code, "rating": rating, "reason": reason,
            "details": {k: (v.isoformat() if isinstance(v, date) else float(v) if isinstance(v, Decimal) else v)
                        for k, v in details.items()},
            "found_at": self.found_at,
        })


def _scope(scoped: bool):
    """Live apprenticeships: all of them, or (``scoped``) those whose ids are the bound parameter ``ids``."""
    condition = Apprenticeship.status.in_(LIVE_STATUSES)
    return and_(condition, Apprenticeship.id.in_(bindparam("ids", expanding=True))) if scoped else condition


def _standing_scope(scoped: bool):
    """Every apprenticeship whose standing the refresh writes: all of them (or all the given ones), whatever
    their status, since review pages list withdrawn and completed apprenticeships too."""
    return Apprenticeship.id.in_(bindparam("ids", expanding=True)) if scoped else true()


@lru_cache(maxsize=8)
def _queries(scoped: bool, today: date) -> dict:
    """The selects of a refresh of everyone, or (``scoped``) of the apprenticeships given as ``ids``, as at
    ``today``: built once a day rather than on every refresh, since building them costs more than running them
    for the one record a change refreshes."""
    scope, every = _scope(scoped), _standing_scope(scoped)
    a = Apprenticeship
    queries = {
        "records": select(a.id, a.apprentice_id, a.status, a.starts_on, a.planned_end_on, a.actual_end_on,
                          a.planned_otj_hours, a.rule_set, a.weekly_hours, a.employer_gateway_agreed_at,
                          a.english_maths, a.standard_version_id).where(every),
        "breaks": select(BreakInLearning.apprenticeship_id, BreakInLearning.starts_on, BreakInLearning.ends_on)
        .join(Apprenticeship, Apprenticeship.id == BreakInLearning.apprenticeship_id).where(every)
        .order_by(BreakInLearning.apprenticeship_id, BreakInLearning.starts_on),
        "hours": _hours_query(every, today),
        "overdue": _overdue_query(scope, today),
        "unsigned": _unsigned_query(scope, today),
        "placements": _placements_query(scope, today),
    }
    queries["ksb_totals"], queries["ksb_counts"] = _ksb_evidence_queries(scope, today)
    return queries


def _load_records(queries: dict, ids: dict) -> dict[int, _Record]:
    records = {row.id: _Record(*row) for row in db.session.execute(queries["records"], ids)}
    if records:
        for aid, starts_on, ends_on in db.session.execute(queries["breaks"], ids):
            records[aid].breaks.append(_Break(starts_on, ends_on))
    return records


@dataclass(frozen=True)
class _Hours:
    approved: int = 0  # minutes, all dates
    last_month: int = 0
    month_before: int = 0
    waiting_last_month: int = 0


def _hours_query(scope, today: date):
    (m1_start, m1_end), (m2_start, m2_end) = _month_bounds(today)
    o = OtjActivity
    approved = o.status == OtjStatus.APPROVED

    def minutes_where(*conditions):
        return func.sum(case((and_(*conditions), o.minutes), else_=0))

    return (
        select(o.apprenticeship_id,
               minutes_where(approved),
               minutes_where(approved, o.occurred_on >= m1_start, o.occurred_on <= m1_end),
               minutes_where(approved, o.occurred_on >= m2_start, o.occurred_on <= m2_end),
               minutes_where(o.status == OtjStatus.SUBMITTED, o.occurred_on >= m1_start, o.occurred_on <= m1_end))
        .join(Apprenticeship, Apprenticeship.id == o.apprenticeship_id)
        .where(scope, o.status.in_((OtjStatus.APPROVED, OtjStatus.SUBMITTED)))
        .group_by(o.apprenticeship_id)
    )


def _load_hours(queries: dict, ids: dict) -> dict[int, _Hours]:
    return {aid: _Hours(int(total or 0), int(last or 0), int(before or 0), int(waiting or 0))
            for aid, total, last, before, waiting in db.session.execute(queries["hours"], ids)}


def _overdue_query(scope, today: date):
    """Per apprenticeship: how many reviews are overdue, the earliest due date and its review number."""
    return (
        progress_reviews.overdue_reviews_query(today=today)
        .with_only_columns(ProgressReview.apprenticeship_id, func.count(ProgressReview.id),
                           func.min(ProgressReview.due_on), func.min(ProgressReview.sequence))
        .where(scope).group_by(ProgressReview.apprenticeship_id).order_by(None)
    )


def _load_overdue(queries: dict, ids: dict) -> dict[int, tuple[int, date, int]]:
    return {aid: (n, due, sequence) for aid, n, due, sequence in db.session.execute(queries["overdue"], ids)}


@dataclass(frozen=True)
class _Unsigned:
    """The oldest review waiting for signatures, who signed it, and how many reviews wait in all."""

    sequence: int
    held_on: date
    signed: frozenset
    waiting_reviews: int


def _unsigned_query(scope, today: date):
    """Per apprenticeship, reviews held ``REVIEW_UNSIGNED_DAYS`` or more days ago and not signed by all three:
    the oldest (picked with a window function, so one row per apprenticeship comes back) and how many."""
    def signed_as(party):
        return func.sum(case((ReviewSignature.party == party, 1), else_=0)).label(f"signed_{party.value}")

    per_review = (
        progress_reviews.unsigned_reviews_query()
        .outerjoin(ReviewSignature, ReviewSignature.review_id == ProgressReview.id)
        .with_only_columns(
            ProgressReview.apprenticeship_id, ProgressReview.sequence, ProgressReview.held_on,
            *(signed_as(p) for p in SigningParty),
            func.row_number().over(partition_by=ProgressReview.apprenticeship_id,
                                   order_by=(ProgressReview.held_on, ProgressReview.sequence)).label("n"),
            func.count().over(partition_by=ProgressReview.apprenticeship_id).label("waiting"))
        .where(scope, ProgressReview.held_on <= today - timedelta(days=REVIEW_UNSIGNED_DAYS))
        .group_by(ProgressReview.apprenticeship_id, ProgressReview.id, ProgressReview.sequence,
                  ProgressReview.held_on)
        .order_by(None)
        .subquery()
    )
    c = per_review.c
    return (select(c.apprenticeship_id, c.sequence, c.held_on, c.waiting,
                   *(c[f"signed_{p.value}"] for p in SigningParty))
            .where(c.n == 1))


def _load_unsigned(queries: dict, ids: dict) -> dict[int, _Unsigned]:
    parties = list(SigningParty)
    return {
        aid: _Unsigned(sequence, held_on, frozenset(p for p, n in zip(parties, signed, strict=True) if n), waiting)
        for aid, sequence, held_on, waiting, *signed in db.session.execute(queries["unsigned"], ids)
    }


def _placements_query(scope, today: date):
    """Per active apprenticeship, the placements that matter from today on, by start: those ending today or
    later, and the last one even if it has ended. Each row has ``starts_on``, ``ends_on``, ``host`` and
    ``previous_ended_on`` (the end of the placement before it, for "the last one ended on")."""
    every = (
        select(Placement.apprenticeship_id, Placement.starts_on, Placement.ends_on, Organisation.name.label("host"),
               func.lag(Placement.ends_on, type_=Date).over(partition_by=Placement.apprenticeship_id,
                                                order_by=Placement.starts_on).label("previous_ended_on"),
               func.lead(Placement.starts_on, type_=Date).over(partition_by=Placement.apprenticeship_id,
                                                   order_by=Placement.starts_on).label("next_starts_on"))
        .join(Apprenticeship, Apprenticeship.id == Placement.apprenticeship_id)
        .join(Organisation, Organisation.id == Placement.host_organisation_id)
        .where(scope, Apprenticeship.status == ACTIVE)
        .subquery()
    )
    return (
        select(every.c.apprenticeship_id, every.c.starts_on, every.c.ends_on, every.c.host, every.c.previous_ended_on)
        .where(or_(every.c.ends_on >= today, every.c.next_starts_on.is_(None)))
        .order_by(every.c.apprenticeship_id, every.c.starts_on)
    )


def _load_placements(queries: dict, ids: dict) -> dict[int, list]:
    found: dict[int, list] = defaultdict(list)
    for row in db.session.execute(queries["placements"], ids):
        found[row.apprenticeship_id].append(row)
    return found


def _ksb_evidence_queries(scope, today: date):
    """KSBs per standard version, and KSBs with evidence per active apprenticeship whose planned end is within
    ``END_NEAR_DAYS`` (or passed): an approved off-the-job entry built it, or the latest completed review
    rates it ready or complete (as ``gateway.ksb_coverage`` counts evidence)."""
    near = and_(scope, Apprenticeship.status == ACTIVE,
                Apprenticeship.planned_end_on <= today + timedelta(days=END_NEAR_DAYS))
    totals = (
        select(Ksb.standard_version_id, func.count(Ksb.id))
        .where(Ksb.standard_version_id.in_(select(Apprenticeship.standard_version_id).where(near)))
        .group_by(Ksb.standard_version_id)
    )
    ranked = (
        select(ProgressReview.id.label("review_id"), ProgressReview.apprenticeship_id,
               func.row_number().over(partition_by=ProgressReview.apprenticeship_id,
                                      order_by=(ProgressReview.held_on.desc(), ProgressReview.sequence.desc()))
               .label("n"))
        .join(Apprenticeship, Apprenticeship.id == ProgressReview.apprenticeship_id)
        .where(near, ProgressReview.completed_at.is_not(None))
        .subquery()
    )
    from_reviews = (
        select(ranked.c.apprenticeship_id.label("apprenticeship_id"), ReviewKsbProgress.ksb_id.label("ksb_id"))
        .join(ReviewKsbProgress, ReviewKsbProgress.review_id == ranked.c.review_id)
        .where(ranked.c.n == 1, ReviewKsbProgress.level.in_(gateway.READY_LEVELS))
    )
    from_hours = (
        select(OtjActivity.apprenticeship_id.label("apprenticeship_id"), otj_activity_ksb.c.ksb_id.label("ksb_id"))
        .join(OtjActivity, OtjActivity.id == otj_activity_ksb.c.otj_activity_id)
        .join(Apprenticeship, Apprenticeship.id == OtjActivity.apprenticeship_id)
        .where(near, OtjActivity.status == OtjStatus.APPROVED)
    )
    evidenced = union(from_hours, from_reviews).subquery()
    owner = aliased(Apprenticeship)
    counts = (
        select(evidenced.c.apprenticeship_id, func.count(Ksb.id))
        .join(owner, owner.id == evidenced.c.apprenticeship_id)
        .join(Ksb, and_(Ksb.id == evidenced.c.ksb_id, Ksb.standard_version_id == owner.standard_version_id))
        .group_by(evidenced.c.apprenticeship_id)
    )
    return totals, counts


def _load_ksb_evidence(queries: dict, ids: dict) -> tuple[dict[int, int], dict[int, int]]:
    return (dict(db.session.execute(queries["ksb_totals"], ids).all()),
            dict(db.session.execute(queries["ksb_counts"], ids).all()))


# The apprenticeship rules ----------------------------------------------------------------------


def _otj_behind(flags: _Flags, record: _Record, hours: _Hours, today: date) -> None:
    if today < record.starts_on + timedelta(days=OTJ_GRACE_DAYS):
        return
    expected = otj_totals.expected_hours(record, today)
    if expected <= 0:
        return
    approved = _minutes_to_hours(hours.approved)
    share = approved / expected
    if share >= OTJ_BEHIND_AMBER:
        return
    floor = OTJ_BEHIND_RED if share < OTJ_BEHIND_RED else OTJ_BEHIND_AMBER
    rating = RiskRating.RED if share < OTJ_BEHIND_RED else RiskRating.AMBER
    percent = int(approved * 100 / expected)
    flags.add("otj_behind", rating,
              f"Off-the-job hours {_hours(approved)} of {_hours(expected)} expected by today ({percent}%): "
              f"below {floor:.0%} of the plan",
              person_id=record.apprentice_id, apprenticeship_id=record.id, approved_hours=approved,
              expected_hours=expected, planned_hours=record.planned_otj_hours, percent=percent)


def _live_whole_month(record: _Record, first: date, last: date) -> bool:
    end = record.actual_end_on or record.planned_end_on
    if record.starts_on > first or end < last:
        return False
    return not any(b.starts_on <= last and (b.ends_on is None or b.ends_on >= first) for b in record.breaks)


def _no_otj_month(flags: _Flags, record: _Record, hours: _Hours, today: date) -> None:
    (m1_start, m1_end), (m2_start, m2_end) = _month_bounds(today)
    if hours.last_month or not _live_whole_month(record, m1_start, m1_end):
        return
    both = not hours.month_before and _live_whole_month(record, m2_start, m2_end)
    earlier = f"{m2_start:%B}" if m2_start.year == m1_start.year else _month(m2_start)
    months = f"{earlier} or {_month(m1_start)}" if both else _month(m1_start)
    reason = f"No approved off-the-job hours dated in {months}: there should be active learning every month"
    if hours.waiting_last_month:
        reason += (f" ({_hours(_minutes_to_hours(hours.waiting_last_month))} hours logged in {m1_start:%B} "
                   "wait for approval)")
    flags.add("no_otj_month", RiskRating.RED if both else RiskRating.AMBER, reason,
              person_id=record.apprentice_id, apprenticeship_id=record.id,
              months=[m2_start.isoformat(), m1_start.isoformat()] if both else [m1_start.isoformat()],
              waiting_hours=_minutes_to_hours(hours.waiting_last_month))


def _review_overdue(flags: _Flags, record: _Record, overdue: tuple[int, date, int], today: date) -> None:
    count, due_on, sequence = overdue
    if count == 1:
        reason = f"Progress review {sequence} was due on {_day(due_on)} ({_when(due_on, today)}) and has not been held"
    else:
        reason = (f"{count} progress reviews have not been held: the first was due on {_day(due_on)} "
                  f"({_when(due_on, today)})")
    flags.add("review_overdue", RiskRating.RED, reason, person_id=record.apprentice_id,
              apprenticeship_id=record.id, overdue=count, earliest_due_on=due_on)


def _review_unsigned(flags: _Flags, record: _Record, first: _Unsigned, today: date) -> None:
    waiting = [p for p in SigningParty if p not in first.signed]
    reason = (f"Progress review {first.sequence}, held on {_day(first.held_on)} ({_when(first.held_on, today)}), "
              f"still needs signing by {_and_list([progress_reviews.WHO_SIGNS[p] for p in waiting])}")
    if first.waiting_reviews > 1:
        later = first.waiting_reviews - 1
        reason += f"; {_plural(later, 'later review')} also {'waits' if later == 1 else 'wait'}"
    flags.add("review_unsigned", RiskRating.AMBER, reason, person_id=record.apprentice_id,
              apprenticeship_id=record.id, unsigned=first.waiting_reviews, held_on=first.held_on,
              waiting_for=[p.value for p in waiting])


def _placements(flags: _Flags, record: _Record, placements: list, today: date) -> None:
    """``no_placement`` when nothing is in force today; otherwise the first day without a placement after today
    (before the planned end) gives ``placement_ending`` when the current placement ends within
    ``PLACEMENT_ENDING_DAYS``, or ``placement_gap`` when it starts within ``PLACEMENT_GAP_DAYS``."""
    end = record.planned_end_on
    if today > end:
        return
    common = {"person_id": record.apprentice_id, "apprenticeship_id": record.id}
    day = max(today, record.starts_on)
    if record.starts_on <= today and not any(p.starts_on <= today <= p.ends_on for p in placements):
        ended = [p.ends_on for p in placements if p.ends_on < today] + [
            p.previous_ended_on for p in placements if p.previous_ended_on and p.previous_ended_on < today]
        last_ended = max(ended, default=None)
        following = next((p for p in placements if p.starts_on > today), None)
        reason = "No placement in force today"
        if last_ended:
            reason += f": the last one ended on {_day(last_ended)}"
        reason += f"{' and' if last_ended else ':'} the next starts on {_day(following.starts_on)}" if following else (
            f"{' and' if last_ended else ':'} none is arranged before the planned end on {_day(end)}")
        flags.add("no_placement", RiskRating.RED, reason, **common, last_ended_on=last_ended,
                  next_starts_on=following.starts_on if following else None)
        return
    # Walk the placements (by start) over the covered days from ``day`` to the first day without one.
    gap_start, ending, following = day, None, None
    for p in placements:
        if p.starts_on > gap_start:
            following = p
            break
        if p.ends_on >= gap_start:
            ending = p if ending is None or p.ends_on > ending.ends_on else ending
            gap_start = p.ends_on + timedelta(days=1)
    if gap_start > end:
        return
    gap_end = min(following.starts_on - timedelta(days=1), end) if following else end
    gap_days = (gap_end - gap_start).days + 1
    figures = {"gap_starts_on": gap_start, "gap_ends_on": gap_end, "gap_days": gap_days}
    if ending is not None and ending.starts_on <= today and (ending.ends_on - today).days <= PLACEMENT_ENDING_DAYS:
        flags.add("placement_ending", RiskRating.AMBER,
                  f"The placement with {ending.host} ends on {_day(ending.ends_on)} ({_when(ending.ends_on, today)}) "
                  f"and no placement starts on {_day(gap_start)}", ends_on=ending.ends_on, **figures, **common)
    elif (gap_start - today).days <= PLACEMENT_GAP_DAYS:
        if following:
            reason = (f"No placement from {_day(gap_start)} to {_day(gap_end)} ({_plural(gap_days, 'day')}), "
                      f"before the planned end on {_day(end)}")
        else:
            reason = (f"No placement arranged from {_day(gap_start)} to the planned end on {_day(end)} "
                      f"({_plural(gap_days, 'day')})")
        flags.add("placement_gap", RiskRating.AMBER, reason, **figures, **common)


def _end_near(flags: _Flags, record: _Record, hours: _Hours, ksb_totals: dict[int, int],
              ksb_evidenced: dict[int, int], today: date) -> None:
    """Gateway approximated from the same facts as ``gateway.checklist``: the employer's agreement, approved
    off-the-job hours against the plan, English and maths, KSBs with evidence, and the minimum duration (only
    when the planned end itself comes before it: time alone fixes the rest)."""
    days_left = (record.planned_end_on - today).days
    if days_left > END_NEAR_DAYS:
        return
    missing = []
    if record.employer_gateway_agreed_at is None:
        missing.append("the employer has not agreed the apprentice is ready")
    approved = _minutes_to_hours(hours.approved)
    if approved < record.planned_otj_hours:
        missing.append(f"{_hours(approved)} of {record.planned_otj_hours} planned off-the-job hours approved")
    if record.english_maths is EnglishMaths.REQUIRED:
        missing.append("English and maths not yet achieved")
    total = ksb_totals.get(record.standard_version_id, 0)
    evidenced = ksb_evidenced.get(record.id, 0)
    if evidenced < total:
        missing.append(f"{total - evidenced} of {total} KSBs without evidence")
    minimum_end, _ = gateway.minimum_duration_end(record, today)
    if minimum_end > record.planned_end_on:
        missing.append(f"the minimum practical period ends on {_day(minimum_end)}, after the planned end")
    if not missing:
        return
    rating = RiskRating.RED if days_left <= END_NEAR_RED_DAYS else RiskRating.AMBER
    when = "was" if days_left < 0 else "is"
    flags.add("end_near_gateway_not_ready", rating,
              f"The planned end {when} {_day(record.planned_end_on)} ({_when(record.planned_end_on, today)}) and "
              f"gateway is not ready: {'; '.join(missing)}",
              person_id=record.apprentice_id, apprenticeship_id=record.id, planned_end_on=record.planned_end_on,
              days_left=days_left, missing=missing, approved_hours=approved, ksbs=total, ksbs_evidenced=evidenced)


@dataclass(frozen=True)
class _Progress:
    """An apprenticeship's off-the-job progress for its standing."""

    person_id: int
    approved: Decimal
    expected: Decimal
    percent: int


def progress_figures(record, approved: Decimal, today: date) -> tuple[Decimal, int]:
    """Hours expected by ``today`` and approved hours as a % of them (100 when none are expected yet), as
    ``OtjTotals.percent_of_expected`` gives on the apprenticeship's record."""
    expected = otj_totals.expected_hours(record, today)
    return expected, int(approved * 100 / expected) if expected else 100


def _apprenticeship_flags(flags: _Flags, apprenticeship_ids, today: date,
                          progress: dict[int, _Progress]) -> int:
    """Flags for the live apprenticeships in scope; progress (for the standings) of every apprenticeship in
    scope. Returns how many live apprenticeships were checked."""
    queries = _queries(apprenticeship_ids is not None, today)
    ids = {} if apprenticeship_ids is None else {"ids": list(apprenticeship_ids)}
    records = _load_records(queries, ids)
    if not records:
        return 0
    hours = _load_hours(queries, ids)
    overdue = _load_overdue(queries, ids)
    unsigned = _load_unsigned(queries, ids)
    placements = _load_placements(queries, ids)
    ksb_totals, ksb_evidenced = _load_ksb_evidence(queries, ids)
    live = 0
    for record in records.values():
        approved = _minutes_to_hours(hours.get(record.id, _Hours()).approved)
        expected, percent = progress_figures(record, approved, today)
        progress[record.id] = _Progress(record.apprentice_id, approved, expected, percent)
        if record.status not in LIVE_STATUSES:
            continue
        live += 1
        if record.id in unsigned:
            _review_unsigned(flags, record, unsigned[record.id], today)
        if record.status is not ACTIVE:
            continue  # at gateway and end-point assessment only unsigned reviews are flagged
        record_hours = hours.get(record.id, _Hours())
        _otj_behind(flags, record, record_hours, today)
        _no_otj_month(flags, record, record_hours, today)
        if record.id in overdue:
            _review_overdue(flags, record, overdue[record.id], today)
        _placements(flags, record, placements.get(record.id, []), today)
        _end_near(flags, record, record_hours, ksb_totals, ksb_evidenced, today)
    return live


# The enrolment rules ---------------------------------------------------------------------------


def _enrolment_flags(flags: _Flags, enrolment_ids, today: date, people: dict[int, int]) -> int:
    """Flags for the enrolled enrolments in scope; ``people`` gets the person of every enrolment in scope
    (whatever its status), for the standings. Returns how many enrolled enrolments were checked."""
    touched = or_(
        Enrolment.last_activity_at.is_not(None),
        select(LessonProgress.id).where(LessonProgress.enrolment_id == Enrolment.id).exists(),
        select(CheckAttempt.id).where(CheckAttempt.enrolment_id == Enrolment.id).exists(),
    )
    query = (
        select(Enrolment.id, Enrolment.person_id, Enrolment.enrolled_at, Enrolment.created_at,
               case((touched, literal(1)), else_=literal(0)), CourseRun.name, CourseRun.starts_on,
               CourseRun.ends_on, Course.title, Enrolment.status)
        .join(CourseRun, CourseRun.id == Enrolment.run_id).join(Course, Course.id == CourseRun.course_id)
    )
    if enrolment_ids is not None:
        query = query.where(Enrolment.id.in_(enrolment_ids))
    checked = 0
    for (eid, person_id, enrolled_at, created_at, active, run_name, starts_on, ends_on, title,
         status) in db.session.execute(query):
        people[eid] = person_id
        if EnrolmentStatus(status) is not EnrolmentStatus.ENROLLED:
            continue
        checked += 1
        common = {"person_id": person_id, "enrolment_id": eid}
        enrolled_on = (enrolled_at or created_at).astimezone(clock.LONDON).date()
        since = max(enrolled_on, starts_on) if starts_on else enrolled_on
        if not active and (today - since).days >= NOT_STARTED_DAYS:
            start = "enrolled on" if since == enrolled_on else "the run started on"
            flags.add("not_started", RiskRating.AMBER,
                      f"{title} ({run_name}) not started: {start} {_day(since)} ({_when(since, today)}) and no "
                      "lesson opened yet", enrolled_on=enrolled_on, since=since, **common)
        if ends_on is not None and (ends_on - today).days <= DEADLINE_DAYS:
            days_left = (ends_on - today).days
            rating = RiskRating.RED if days_left <= DEADLINE_RED_DAYS else RiskRating.AMBER
            verb = "ended" if days_left < 0 else "ends"
            flags.add("deadline_near", rating,
                      f"{title} ({run_name}) {verb} on {_day(ends_on)} ({_when(ends_on, today)}) and the course is "
                      "not complete", ends_on=ends_on, days_left=days_left, **common)
    return checked


# The refresh -----------------------------------------------------------------------------------


def lock_out_other_refreshes(*, apprenticeship_ids=None, enrolment_ids=None) -> None:
    """On PostgreSQL, wait for any other refresh of the same records to commit first (the locks end with the
    transaction): a refresh of everyone, of enrolments or of many apprenticeships holds ``REFRESH_LOCK_KEY``
    alone; one of up to ``FEW_RECORDS`` apprenticeships shares it and locks each record (in id order, so two
    never wait for each other in a circle). SQLite lets one writer at a time anyway."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    few = apprenticeship_ids is not None and not enrolment_ids and len(apprenticeship_ids) <= FEW_RECORDS
    if not few:
        db.session.execute(select(func.pg_advisory_xact_lock(REFRESH_LOCK_KEY)))
        return
    db.session.execute(select(func.pg_advisory_xact_lock_shared(REFRESH_LOCK_KEY)))
    ids = sorted(set(apprenticeship_ids))
    if ids:
        in_order = select(func.unnest(literal(ids, ARRAY(Integer))).label("id")).order_by("id").subquery()
        db.session.execute(select(func.count(func.pg_advisory_xact_lock(REFRESH_LOCK_KEY, in_order.c.id))))


def _standing_rows(flags: _Flags, progress: dict[int, _Progress], people: dict[int, int]) -> list[dict]:
    """One standing per apprenticeship and enrolment in scope: the worst of its flags (green with none), how
    many there are and, for an apprenticeship, its off-the-job progress."""
    found: dict[tuple[str, int], list[RiskRating]] = defaultdict(list)
    for row in flags.rows:
        key = ("a", row["apprenticeship_id"]) if row["apprenticeship_id"] is not None else ("e", row["enrolment_id"])
        found[key].append(row["rating"])

    def standing(ratings, **columns):
        rating = worst(ratings)
        return {"apprenticeship_id": None, "enrolment_id": None, "rating": rating, "rating_rank": RATING_ORDER[rating],
                "flag_count": len(ratings), "approved_hours": None, "expected_hours": None,
                "percent_of_expected": None, "found_at": flags.found_at, **columns}

    rows = [standing(found.get(("a", aid), []), apprenticeship_id=aid, person_id=p.person_id,
                     approved_hours=p.approved, expected_hours=p.expected, percent_of_expected=p.percent)
            for aid, p in progress.items()]
    rows += [standing(found.get(("e", eid), []), enrolment_id=eid, person_id=person_id)
             for eid, person_id in people.items()]
    return rows


def refresh_flags(*, today: date | None = None, apprenticeship_ids=None, enrolment_ids=None) -> dict[str, int]:
    """Recompute the risk flags and replace the old ones (one DELETE, one bulk INSERT) in the current
    transaction, with the standings (one DELETE, one bulk INSERT more) and the apprenticeships' review rows
    (``review_rows.write``); the caller commits. With
    ``apprenticeship_ids`` and/or ``enrolment_ids``, only the flags and standings of those records are
    recomputed (an omitted list then means none of that kind); with neither, all. On PostgreSQL a refresh first
    waits for any other refresh of the same records in progress to commit (``lock_out_other_refreshes``)."""
    today = today or clock.today()
    scoped = apprenticeship_ids is not None or enrolment_ids is not None
    if scoped:
        apprenticeship_ids = list(apprenticeship_ids or [])
        enrolment_ids = list(enrolment_ids or [])
    lock_out_other_refreshes(apprenticeship_ids=apprenticeship_ids, enrolment_ids=enrolment_ids)
    flags = _Flags()
    progress: dict[int, _Progress] = {}
    people: dict[int, int] = {}
    checked_apprenticeships = (_apprenticeship_flags(flags, apprenticeship_ids, today, progress)
                               if not scoped or apprenticeship_ids else 0)
    checked_enrolments = (_enrolment_flags(flags, enrolment_ids, today, people)
                          if not scoped or enrolment_ids else 0)
    for model in (RiskFlag, RiskStanding):
        replaced = delete(model)
        if scoped:
            replaced = replaced.where(or_(
                *([model.apprenticeship_id.in_(apprenticeship_ids)] if apprenticeship_ids else []),
                *([model.enrolment_id.in_(enrolment_ids)] if enrolment_ids else []),
                false()))
        db.session.execute(replaced)
    # Core, not the ORM's bulk insert, which splits rows by their null columns into one INSERT per shape.
    if flags.rows:
        db.session.execute(insert(RiskFlag.__table__), flags.rows)
    standings = _standing_rows(flags, progress, people)
    if standings:
        db.session.execute(insert(RiskStanding.__table__), standings)
    if not scoped or apprenticeship_ids:
        # The review rows of the same apprenticeships, from what was just worked out.
        found: dict[int, list[tuple]] = defaultdict(list)
        for row in flags.rows:
            if row["apprenticeship_id"] is not None:
                found[row["apprenticeship_id"]].append((row["code"], row["rating"], row["reason"]))
        review_rows.write(apprenticeship_ids, locked=True, flags=found, standings={
            row["apprenticeship_id"]: row for row in standings if row["apprenticeship_id"] is not None})
    return {
        "apprenticeships": checked_apprenticeships,
        "enrolments": checked_enrolments,
        "red": sum(1 for r in flags.rows if r["rating"] is RiskRating.RED),
        "amber": sum(1 for r in flags.rows if r["rating"] is RiskRating.AMBER),
        "flags": len(flags.rows),
        "standings": len(standings),
    }
