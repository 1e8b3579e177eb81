"""What the coordinator's home shows: how the apprentices and learners of their organisations stand and what to do
next. Its scope is the cohort review's: a borough coordinator sees the apprentices employed by or placed in their
organisations (``policy.apprenticeship_scope_filter``) and the learners of their organisations; a programme-wide
coordinator sees everyone. Each figure comes from the service behind the page it links to, so the two agree:

- red and amber ratings and overdue progress reviews: the review rows (``cohort_review.tally``), as the cohort
  review filtered by that rating or by the "Progress review overdue" flag counts them;
- off-the-job hours waiting: the approval queue (``off_the_job.queue_query``), longest waiting first;
- certificates waiting: completions with no current certificate (``certificate_batches.waiting_by_cohort``),
  what the hourly catch-up and each run's or intake's certificates page would issue.

At most six statements, whatever the number of records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import aliased

from app import policy
from app.extensions import db
from app.models import (
    Apprenticeship,
    ApprenticeshipStatus,
    Course,
    CourseRun,
    Enrolment,
    EnrolmentStatus,
    Organisation,
    Person,
    Placement,
    RiskRating,
)
from app.models.types import utcnow
from app.services import certificate_batches, cohort_review, off_the_job, runs

# A placement ending this soon with nothing after it needs the next one found now.
PLACEMENT_ENDING_DAYS = 28
# Runs starting within this many days, today included.
RUN_STARTING_DAYS = 7
# How many of the oldest entries, ending placements and waiting cohorts the panel names.
SHOWN = 5
OVERDUE_FLAG = "review_overdue"


@dataclass(frozen=True)
class WaitingEntry:
    """Off-the-job hours waiting for a decision."""

    activity_id: int
    apprenticeship_id: int
    apprentice: str
    occurred_on: date
    minutes: int
    logged_at: datetime
    waiting_days: int


@dataclass(frozen=True)
class EndingPlacement:
    apprenticeship_id: int
    apprentice: str
    host: str
    ends_on: date
    days_left: int


@dataclass(frozen=True)
class StartingRun:
    run_id: int
    course: str
    name: str
    starts_on: date
    enrolled: int
    capacity: int | None
    waitlisted: int
    in_scope: int  # of those enrolled, people of the coordinator's organisations

    @property
    def full(self) -> bool:
        return self.capacity is not None and self.enrolled >= self.capacity


@dataclass
class CoordinatorPanel:
    scope: str  # "Hackney and Islington", or "every organisation"
    programme_wide: bool
    organisations: int  # how many organisations the coordinator coordinates (0: programme-wide)
    red: int
    amber: int
    reviews_overdue: int  # apprentices with an overdue progress review
    hours_waiting: int
    oldest_hours: list[WaitingEntry] = field(default_factory=list)
    placements_ending: int = 0
    ending: list[EndingPlacement] = field(default_factory=list)
    runs_starting: list[StartingRun] = field(default_factory=list)
    certificates_waiting: int = 0
    waiting_cohorts: list[certificate_batches.WaitingCohort] = field(default_factory=list)
    ending_within: int = PLACEMENT_ENDING_DAYS
    starting_within: int = RUN_STARTING_DAYS

    @property
    def more_cohorts(self) -> int:
        return max(len(self.waiting_cohorts) - SHOWN, 0)


def panel(person: Person, today: date) -> CoordinatorPanel | None:
    """The coordinator's panel, or None when the person is not one."""
    if not policy.is_coordinator(person):
        return None
    scope = policy.managed_organisation_ids(person)
    tally = cohort_review.tally(person, (OVERDUE_FLAG,))
    hours_waiting, oldest = _oldest_hours(person, today)
    ending_count, ending = _placements_ending(person, today)
    cohorts = certificate_batches.waiting_by_cohort(person)
    return CoordinatorPanel(
        scope=_scope_name(scope), programme_wide=scope is None, organisations=len(scope or ()),
        red=tally[RiskRating.RED.value], amber=tally[RiskRating.AMBER.value], reviews_overdue=tally[OVERDUE_FLAG],
        hours_waiting=hours_waiting, oldest_hours=oldest, placements_ending=ending_count, ending=ending,
        runs_starting=_runs_starting(scope, today), certificates_waiting=sum(c.waiting for c in cohorts),
        waiting_cohorts=cohorts[:SHOWN],
    )


def _scope_name(scope: set[int] | None) -> str:
    if scope is None:
        return "every organisation"
    names = list(db.session.scalars(select(Organisation.name).where(Organisation.id.in_(scope or {-1}))
                                    .order_by(Organisation.name)))
    if len(names) > 1:
        return f"{', '.join(names[:-1])} and {names[-1]}"
    return names[0] if names else "no organisation"


def _oldest_hours(person: Person, today: date) -> tuple[int, list[WaitingEntry]]:
    """How many entries wait in the person's approval queue, and the ones logged longest ago."""
    queue = off_the_job.queue_query(person).order_by(None).subquery()
    rows = db.session.execute(
        select(queue.c.id, queue.c.apprenticeship_id, Person.name, queue.c.occurred_on, queue.c.minutes,
               queue.c.logged_at, func.count().over())
        .join(Apprenticeship, Apprenticeship.id == queue.c.apprenticeship_id)
        .join(Person, Person.id == Apprenticeship.apprentice_id)
        .order_by(queue.c.logged_at, queue.c.id).limit(SHOWN)
    ).all()
    now = utcnow()
    entries = [WaitingEntry(activity_id, apprenticeship_id, name, occurred_on, minutes, logged_at,
                            max((now - logged_at).days, 0))
               for activity_id, apprenticeship_id, name, occurred_on, minutes, logged_at, _total in rows]
    return (rows[0][-1] if rows else 0), entries


def _placements_ending(person: Person, today: date) -> tuple[int, list[EndingPlacement]]:
    """Placements of active apprenticeships in scope ending within ``PLACEMENT_ENDING_DAYS`` while the
    apprenticeship goes on, with no placement of the apprenticeship ending later: nobody has found the next one."""
    later = aliased(Placement)
    until = today + timedelta(days=PLACEMENT_ENDING_DAYS)
    apprenticeship_end = func.coalesce(Apprenticeship.actual_end_on, Apprenticeship.planned_end_on)
    nothing_next = ~select(later.id).where(later.apprenticeship_id == Placement.apprenticeship_id,
                                           later.ends_on > Placement.ends_on).exists()
    query = (
        select(Placement.apprenticeship_id, Person.name, Organisation.name, Placement.ends_on, func.count().over())
        .join(Apprenticeship, Apprenticeship.id == Placement.apprenticeship_id)
        .join(Person, Person.id == Apprenticeship.apprentice_id)
        .join(Organisation, Organisation.id == Placement.host_organisation_id)
        .where(Placement.ends_on >= today, Placement.ends_on <= until, apprenticeship_end > Placement.ends_on,
               Apprenticeship.status == ApprenticeshipStatus.ACTIVE, nothing_next)
        .order_by(Placement.ends_on, Person.name, Placement.id).limit(SHOWN)
    )
    scope = policy.apprenticeship_scope_filter(person)
    if scope is not None:
        query = query.where(scope)
    rows = db.session.execute(query).all()
    ending = [EndingPlacement(apprenticeship_id, name, host, ends_on, (ends_on - today).days)
              for apprenticeship_id, name, host, ends_on, _total in rows]
    return (rows[0][-1] if rows else 0), ending


def _runs_starting(scope: set[int] | None, today: date) -> list[StartingRun]:
    """Open runs starting within ``RUN_STARTING_DAYS``, soonest first, with their places taken (as the roster
    counts them), their waiting list, and how many of those enrolled belong to the coordinator's organisations."""
    taking = Enrolment.status.in_(runs.PLACE_HOLDING)
    mine = taking if scope is None else and_(taking, Person.organisation_id.in_(scope or {-1}))
    rows = db.session.execute(
        select(CourseRun.id, Course.title, CourseRun.name, CourseRun.starts_on, CourseRun.capacity,
               func.coalesce(func.sum(case((taking, 1), else_=0)), 0),
               func.coalesce(func.sum(case((Enrolment.status == EnrolmentStatus.WAITLISTED, 1), else_=0)), 0),
               func.coalesce(func.sum(case((mine, 1), else_=0)), 0))
        .join(Course, Course.id == CourseRun.course_id)
        .outerjoin(Enrolment, Enrolment.run_id == CourseRun.id)
        .outerjoin(Person, Person.id == Enrolment.person_id)
        .where(CourseRun.starts_on >= today, CourseRun.starts_on < today + timedelta(days=RUN_STARTING_DAYS),
               CourseRun.closed_at.is_(None), Course.retired_at.is_(None))
        .group_by(CourseRun.id, Course.title, CourseRun.name, CourseRun.starts_on, CourseRun.capacity)
        .order_by(CourseRun.starts_on, Course.title, CourseRun.id)
    ).all()
    return [StartingRun(run_id, course, name, starts_on, int(enrolled), capacity, int(waitlisted), int(in_scope))
            for run_id, course, name, starts_on, capacity, enrolled, waitlisted, in_scope in rows]
