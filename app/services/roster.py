"""A run's roster for coordinators and admins: who is on it and how far each person has got.

Coordinators see and act on the people of their organisations only; admins on everyone. Progress and
scores are worked out for a whole page of enrolments at once, so the number of queries stays the same
however many people are on the run.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Select, case, distinct, func, or_, select
from sqlalchemy.orm import contains_eager

from app import policy
from app.extensions import db
from app.models import (
    CheckAttempt,
    CourseRun,
    Enrolment,
    EnrolmentStatus,
    LessonProgress,
    Organisation,
    Person,
)
from app.services import ServiceError, accounts, enrolment, learning
from app.services.runs import places_left

PAGE_SIZE = 50
LONDON = ZoneInfo("Europe/London")
COLUMNS = ["Name", "Email", "Organisation", "Status", "Progress (%)", "Last activity", "Best check score (%)"]
AS_AT_COLUMN = "As at"


@dataclass
class RosterFilter:
    status: EnrolmentStatus | None = None
    organisation_id: int | None = None
    search: str = ""

    @classmethod
    def from_args(cls, args) -> RosterFilter:
        """Filters from a query string; anything unrecognised is ignored."""
        status = args.get("status", "")
        organisation = args.get("organisation", "")
        return cls(
            status=EnrolmentStatus(status) if status in {s.value for s in EnrolmentStatus} else None,
            organisation_id=int(organisation) if organisation.isdigit() else None,
            search=args.get("q", "").strip()[:200],
        )

    def as_args(self) -> dict:
        return {"status": self.status.value if self.status else "", "organisation": self.organisation_id or "",
                "q": self.search}


@dataclass
class RosterRow:
    enrolment: Enrolment
    progress_percent: int
    best_score: int | None
    can_open_person: bool

    @property
    def person(self) -> Person:
        return self.enrolment.person

    @property
    def last_activity_at(self) -> datetime | None:
        return self.enrolment.last_activity_at

    def cells(self) -> list:
        """The row as plain values: numbers as numbers, times as ISO 8601 in London time."""
        return [self.person.name, self.person.email, self.person.organisation.name, self.enrolment.status.label,
                self.progress_percent, iso_time(self.last_activity_at),
                "" if self.best_score is None else self.best_score]


@dataclass
class RosterSummary:
    counts: dict[EnrolmentStatus, int] = field(default_factory=dict)
    capacity: int | None = None
    places_left: int | None = None
    # True when the counts cover only the viewer's organisations.
    scoped: bool = False


def iso_time(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(LONDON).isoformat(timespec="seconds")


def _scope_condition(actor: Person):
    scope = policy.managed_organisation_ids(actor)
    if scope is None:
        return None
    return Person.organisation_id.in_(scope or {-1})


def roster_query(actor: Person, run: CourseRun, filters: RosterFilter) -> Select:
    """Enrolments on ``run`` of the people ``actor`` may see, filtered, in name order."""
    query = (
        select(Enrolment)
        .join(Enrolment.person)
        .join(Person.organisation)
        .options(contains_eager(Enrolment.person).contains_eager(Person.organisation))
        .where(Enrolment.run_id == run.id)
        .order_by(Person.name, Person.id)
    )
    scope = _scope_condition(actor)
    if scope is not None:
        query = query.where(scope)
    if filters.status is not None:
        query = query.where(Enrolment.status == filters.status)
    if filters.organisation_id:
        query = query.where(Person.organisation_id == filters.organisation_id)
    if filters.search:
        term = filters.search.lower()
        query = query.where(or_(func.lower(Person.name).contains(term, autoescape=True),
                                Person.email.contains(term, autoescape=True)))
    return query


def rows_for(actor: Person, run: CourseRun, enrolments: list[Enrolment]) -> list[RosterRow]:
    """Progress and best score for each enrolment, in two queries whatever the number of enrolments.

    The figures match ``services.learning.progress``: the share of the course outline done (lessons
    opened, checks passed) and the best score on any check in the outline.
    """
    if not enrolments:
        return []
    items = learning.outline(run.course)
    lesson_ids = [i.item.id for i in items if i.kind == "lesson"]
    check_ids = [i.item.id for i in items if i.kind == "check"]
    ids = [e.id for e in enrolments]
    lessons_done: dict[int, int] = {}
    if lesson_ids:
        lessons_done = dict(db.session.execute(
            select(LessonProgress.enrolment_id, func.count(distinct(LessonProgress.lesson_id)))
            .where(LessonProgress.enrolment_id.in_(ids), LessonProgress.lesson_id.in_(lesson_ids))
            .group_by(LessonProgress.enrolment_id)
        ).all())
    checks: dict[int, tuple[int, int | None]] = {}
    if check_ids:
        passed_check = case((CheckAttempt.passed.is_(True), CheckAttempt.check_id))
        checks = {enrolment_id: (passed, best) for enrolment_id, passed, best in db.session.execute(
            select(CheckAttempt.enrolment_id, func.count(distinct(passed_check)), func.max(CheckAttempt.score))
            .where(CheckAttempt.enrolment_id.in_(ids), CheckAttempt.check_id.in_(check_ids))
            .group_by(CheckAttempt.enrolment_id)
        ).all()}
    rows = []
    for item in enrolments:
        passed, best = checks.get(item.id, (0, None))
        done = lessons_done.get(item.id, 0) + passed
        percent = round(100 * done / len(items)) if items else 0
        rows.append(RosterRow(item, percent, best, policy.can_manage_person(actor, item.person)))
    return rows


def roster_page(actor: Person, run: CourseRun, filters: RosterFilter, page: int):
    """One page of the roster: the pagination and its rows."""
    pagination = db.paginate(roster_query(actor, run, filters), page=page, per_page=PAGE_SIZE, error_out=False)
    return pagination, rows_for(actor, run, list(pagination.items))


def all_rows(actor: Person, run: CourseRun, filters: RosterFilter) -> list[RosterRow]:
    return rows_for(actor, run, list(db.session.scalars(roster_query(actor, run, filters)).unique()))


def summary(actor: Person, run: CourseRun) -> RosterSummary:
    query = (select(Enrolment.status, func.count(Enrolment.id)).join(Enrolment.person)
             .where(Enrolment.run_id == run.id).group_by(Enrolment.status))
    scope = _scope_condition(actor)
    if scope is not None:
        query = query.where(scope)
    found = dict(db.session.execute(query).all())
    return RosterSummary(counts={status: found.get(status, 0) for status in EnrolmentStatus},
                         capacity=run.capacity, places_left=places_left(run), scoped=scope is not None)


def organisations_on_roster(actor: Person, run: CourseRun) -> list[Organisation]:
    """Organisations of the people on the run that ``actor`` may see: the choices for the filter."""
    query = (select(Organisation).join(Person, Person.organisation_id == Organisation.id)
             .join(Enrolment, Enrolment.person_id == Person.id)
             .where(Enrolment.run_id == run.id).distinct().order_by(Organisation.name))
    scope = _scope_condition(actor)
    if scope is not None:
        query = query.where(scope)
    return list(db.session.scalars(query))


def roster_csv(rows: list[RosterRow], as_at: datetime) -> str:
    """The roster as CSV: the screen's columns and rows, plus when it was taken."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*COLUMNS, AS_AT_COLUMN])
    stamp = iso_time(as_at)
    for row in rows:
        writer.writerow([_safe_cell(value) for value in row.cells()] + [stamp])
    return out.getvalue()


def _safe_cell(value):
    # A spreadsheet runs text that starts with =, +, - or @ as a formula.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def visible_enrolment(actor: Person, run: CourseRun, enrolment_id: int) -> Enrolment | None:
    """The enrolment if it is on ``run`` and ``actor`` may act on its person; ``None`` otherwise."""
    found = db.session.get(Enrolment, enrolment_id)
    if found is None or found.run_id != run.id:
        return None
    if not policy.can_manage_in_organisation(actor, found.person.organisation_id):
        return None
    return found


def enrol_by_email(actor: Person, run: CourseRun, email: str) -> Enrolment:
    """Enrol the person with this email on ``run``: a place, or the waitlist when the run is full."""
    address = accounts.normalise_email(email)
    person = accounts.find_person_by_email(address)
    if person is None or not enrolment.can_enrol_others(actor, person):
        raise ServiceError(enrolment.not_found_message(address), field="email")
    try:
        return enrolment.enrol(actor, person, run)
    except ServiceError as error:
        raise ServiceError(error.message, field="email") from None


def withdraw(actor: Person, item: Enrolment, reason: str) -> list[Enrolment]:
    """Withdraw ``item``; returns the people given a place from the waitlist as a result."""
    waiting = set(db.session.scalars(select(Enrolment.id).where(
        Enrolment.run_id == item.run_id, Enrolment.status == EnrolmentStatus.WAITLISTED)))
    enrolment.withdraw(actor, item, reason)
    if not waiting:
        return []
    return list(db.session.scalars(select(Enrolment).where(
        Enrolment.id.in_(waiting), Enrolment.status == EnrolmentStatus.ENROLLED)))


@dataclass
class RunListing:
    run: CourseRun
    places_taken: int
    waitlisted: int


def runs_query() -> Select:
    """Every run, the newest first, with its course."""
    return (select(CourseRun).join(CourseRun.course).options(contains_eager(CourseRun.course))
            .order_by(CourseRun.starts_on.desc().nulls_last(), CourseRun.id.desc()))


def listings(runs: list[CourseRun]) -> list[RunListing]:
    """Places taken and waitlist length for each run, in one query."""
    if not runs:
        return []
    taking = case((Enrolment.status.in_([EnrolmentStatus.ENROLLED, EnrolmentStatus.COMPLETED]), 1), else_=0)
    waiting = case((Enrolment.status == EnrolmentStatus.WAITLISTED, 1), else_=0)
    counts = {run_id: (taken or 0, waited or 0) for run_id, taken, waited in db.session.execute(
        select(Enrolment.run_id, func.sum(taking), func.sum(waiting))
        .where(Enrolment.run_id.in_([r.id for r in runs])).group_by(Enrolment.run_id)
    ).all()}
    return [RunListing(run, *counts.get(run.id, (0, 0))) for run in runs]
