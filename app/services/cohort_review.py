"""Cohort review: one row per person of an intake, of a course run, or of every apprenticeship a coordinator
looks after, with their progress, their risk rating (the worst of their flags, see ``services/risk.py``) and the
flags' reasons; filtered, searched, sorted and paginated in SQL, and exported cell for cell as on the screen.

Ratings, off-the-job progress and the spread of progress come from the standings (``RiskStanding``) the latest
refresh wrote beside the flags, so they are "as at" the same time as the flags and no request works a whole
cohort's plans out again: sorting and filtering by rating or progress, and the histogram's bands, are plain SQL
over one row per apprenticeship. A record with no standing yet (added since the last refresh) shows no rating
or progress and sorts last.

Scope: admins and programme-wide coordinators see everyone; a borough coordinator sees the apprentices employed
by or placed in their organisations (``policy.apprenticeship_scope_filter``) and the enrolments of people of
their organisations (``policy.managed_organisation_ids``). Every page runs the same number of SQL statements
whatever the number of rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import case, distinct, exists, false, func, literal, or_, select, union_all
from sqlalchemy.orm import aliased

from app import policy
from app.extensions import db
from app.models import (
    Apprenticeship,
    ApprenticeshipStatus,
    CheckAttempt,
    CourseRun,
    Enrolment,
    EnrolmentStatus,
    Intake,
    LessonProgress,
    Organisation,
    Person,
    Placement,
    RiskFlag,
    RiskRating,
    RiskStanding,
    Standard,
    StandardVersion,
)
from app.services import audit, clock, learning, risk

PAGE_SIZE = 50
# The rating cell of a record the refresh has not seen yet.
NOT_WORKED_OUT = "Not worked out yet"
ENROLMENT_CODES = ("not_started", "deadline_near")
# Lifecycle order, for sorting by status.
APPRENTICESHIP_STATUS_ORDER = [ApprenticeshipStatus.ACTIVE, ApprenticeshipStatus.BREAK_IN_LEARNING,
                               ApprenticeshipStatus.GATEWAY, ApprenticeshipStatus.END_POINT_ASSESSMENT,
                               ApprenticeshipStatus.COMPLETED, ApprenticeshipStatus.WITHDRAWN]
ENROLMENT_STATUS_ORDER = [EnrolmentStatus.WAITLISTED, EnrolmentStatus.ENROLLED, EnrolmentStatus.COMPLETED,
                          EnrolmentStatus.WITHDRAWN]
# Progress bands of the histogram: % of the off-the-job hours expected by today.
PROGRESS_BANDS = (("Under 75%", None, 75), ("75% to 89%", 75, 90), ("90% to 99%", 90, 100), ("100% or more", 100, None))


# What is reviewed --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Review:
    """The cohort a page reviews: an intake, a course run, or (neither) every apprenticeship in the viewer's
    scope."""

    kind: str  # "intake", "apprentices" or "run"
    intake: Intake | None = None
    run: CourseRun | None = None

    @classmethod
    def of_intake(cls, intake: Intake) -> Review:
        return cls("intake", intake=intake)

    @classmethod
    def of_run(cls, run: CourseRun) -> Review:
        return cls("run", run=run)

    @classmethod
    def of_apprentices(cls) -> Review:
        return cls("apprentices")

    @property
    def of_apprenticeships(self) -> bool:
        return self.kind != "run"

    @property
    def name(self) -> str:
        if self.intake is not None:
            return f"Intake {self.intake.name}"
        if self.run is not None:
            return f"{self.run.course.title} {self.run.name}"
        return "All apprentices"

    @property
    def noun(self) -> tuple[str, str]:
        return ("person", "people") if self.kind == "run" else ("apprentice", "apprentices")


def visible_intake(actor: Person, intake_id: int) -> Intake | None:
    """The intake if ``actor`` may review it: admins and programme-wide coordinators any; a borough coordinator
    an intake they coordinate or with an apprentice in their scope. ``None`` otherwise (shown as not found)."""
    intake = db.session.get(Intake, intake_id)
    if intake is None:
        return None
    scope = policy.apprenticeship_scope_filter(actor)
    if scope is None or intake.coordinator_id == actor.id:
        return intake
    in_scope = db.session.scalar(select(exists().where(Apprenticeship.intake_id == intake.id, scope)))
    return intake if in_scope else None


def visible_run(actor: Person, run_id: int) -> CourseRun | None:
    """The run if ``actor`` may review it: admins and programme-wide coordinators any; a borough coordinator a
    run they set up or with someone of their organisations on it."""
    run = db.session.get(CourseRun, run_id)
    if run is None:
        return None
    scope = policy.managed_organisation_ids(actor)
    if scope is None or run.created_by_id == actor.id:
        return run
    in_scope = db.session.scalar(select(exists().where(
        Enrolment.run_id == run.id, Enrolment.person_id == Person.id, Person.organisation_id.in_(scope or {-1}))))
    return run if in_scope else None


# Columns ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    heading: str
    type: str = "text"  # text, name, number, date, rating, flags
    sortable: bool = True

    @property
    def numeric(self) -> bool:
        return self.type == "number"


APPRENTICESHIP_COLUMNS = [
    Column("name", "Apprentice", "name"),
    Column("organisation", "Employer"),
    Column("standard", "Standard"),
    Column("intake", "Intake"),
    Column("status", "Status"),
    Column("ends_on", "End date", "date"),
    Column("otj_approved", "OTJ hours approved", "number"),
    Column("otj_expected", "OTJ hours expected", "number", sortable=False),
    Column("progress", "Progress (% of expected)", "number"),
    Column("rating", "Rating", "rating"),
    Column("flags", "Flags", "flags", sortable=False),
]
ENROLMENT_COLUMNS = [
    Column("name", "Name", "name"),
    Column("organisation", "Organisation"),
    Column("status", "Status"),
    Column("enrolled_on", "Enrolled on", "date"),
    Column("completed_on", "Completed on", "date"),
    Column("progress", "Progress (% of the course done)", "number"),
    Column("rating", "Rating", "rating"),
    Column("flags", "Flags", "flags", sortable=False),
]


def columns_for(review: Review) -> list[Column]:
    if review.kind == "run":
        return ENROLMENT_COLUMNS
    if review.kind == "intake":
        return [c for c in APPRENTICESHIP_COLUMNS if c.key != "intake"]
    return APPRENTICESHIP_COLUMNS


# Filters and sorting --------------------------------------------------------------------------------------------


def _int(value) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) < 10 else None


@dataclass(frozen=True)
class ReviewFilters:
    organisation_id: int | None = None
    standard_id: int | None = None
    intake_id: int | None = None
    status: str | None = None
    flag: str | None = None
    rating: RiskRating | None = None
    search: str = ""
    sort: str = "rating"
    descending: bool = False
    page: int = 1

    @classmethod
    def from_args(cls, args, review: Review) -> ReviewFilters:
        """Filters from a query string (or a form); anything unrecognised is ignored."""
        statuses = {s.value for s in (ApprenticeshipStatus if review.of_apprenticeships else EnrolmentStatus)}
        status, flag, rating = args.get("status", ""), args.get("flag", ""), args.get("rating", "")
        sort = args.get("sort", "")
        sortable = {c.key for c in columns_for(review) if c.sortable}
        page = _int(args.get("page")) or 1
        return cls(
            organisation_id=_int(args.get("organisation")),
            standard_id=_int(args.get("standard")) if review.of_apprenticeships else None,
            intake_id=_int(args.get("intake")) if review.kind == "apprentices" else None,
            status=status if status in statuses else None,
            flag=flag if flag in flag_codes(review) else None,
            rating=RiskRating(rating) if rating in {r.value for r in RiskRating} else None,
            search=" ".join(args.get("q", "").split())[:200],
            sort=sort if sort in sortable else "rating",
            descending=args.get("order") == "desc",
            page=max(1, page),
        )

    def as_args(self, *, page: bool = False) -> dict:
        """The filters and sort as query arguments, leaving out what is empty or the default."""
        args = {"organisation": self.organisation_id, "standard": self.standard_id, "intake": self.intake_id,
                "status": self.status, "flag": self.flag, "rating": self.rating.value if self.rating else None,
                "q": self.search, "sort": None if self.sort == "rating" else self.sort,
                "order": "desc" if self.descending else None, "page": self.page if page and self.page > 1 else None}
        return {key: value for key, value in args.items() if value}

    def sorted_by(self, key: str) -> dict:
        """Query arguments to sort by ``key``: ascending first, descending when already ascending."""
        again = replace(self, sort=key, descending=self.sort == key and not self.descending, page=1)
        return again.as_args()

    @property
    def filtered(self) -> bool:
        return any((self.organisation_id, self.standard_id, self.intake_id, self.status, self.flag, self.rating,
                    self.search))


@dataclass
class Choices:
    """What the filters offer."""

    organisations: list[tuple[int, str]] = field(default_factory=list)
    standards: list[tuple[int, str]] = field(default_factory=list)
    intakes: list[tuple[int, str]] = field(default_factory=list)
    statuses: list[tuple[str, str]] = field(default_factory=list)
    flags: list[tuple[str, str]] = field(default_factory=list)
    ratings: list[tuple[str, str]] = field(default_factory=list)


def flag_codes(review: Review) -> list[str]:
    codes = list(risk.CODES)
    if review.of_apprenticeships:
        return [c for c in codes if c not in ENROLMENT_CODES]
    return [c for c in codes if c in ENROLMENT_CODES]


def flag_label(code: str) -> str:
    return risk.CODES.get(code, code.replace("_", " ").capitalize())


def choices(actor: Person, review: Review) -> Choices:
    """The filters' options, from the people in the viewer's scope (one query)."""
    found = Choices(ratings=[(r.value, r.label) for r in RiskRating],
                    flags=[(code, flag_label(code)) for code in flag_codes(review)])
    if review.of_apprenticeships:
        found.statuses = [(s.value, s.label) for s in APPRENTICESHIP_STATUS_ORDER]
        # One statement: the distinct (employer, standard version, intake) of the cohort, read once from the
        # apprenticeships, then the organisations, standards (and intakes) they name, each in its own order.
        in_scope = (_apprenticeships_in_scope(actor, review)
                    .with_only_columns(Apprenticeship.employer_id, Apprenticeship.standard_version_id,
                                       Apprenticeship.intake_id)
                    .distinct().cte("in_scope"))
        branches = [
            select(literal("organisation"), Organisation.id, Organisation.name,
                   func.row_number().over(order_by=Organisation.name))
            .where(Organisation.id.in_(select(in_scope.c.employer_id))),
            select(literal("standard"), Standard.id, Standard.title + " (" + Standard.reference + ")",
                   func.row_number().over(order_by=(Standard.title, Standard.reference)))
            .where(Standard.id.in_(select(StandardVersion.standard_id).where(
                StandardVersion.id.in_(select(in_scope.c.standard_version_id))))),
        ]
        if review.kind == "apprentices":
            branches.append(
                select(literal("intake"), Intake.id, Intake.name,
                       func.row_number().over(order_by=(Intake.starts_on.desc(), Intake.name)))
                .where(Intake.id.in_(select(in_scope.c.intake_id))))
        options = {"organisation": found.organisations, "standard": found.standards, "intake": found.intakes}
        union = union_all(*branches).subquery()
        columns = list(union.c)
        for kind, key, label, _position in db.session.execute(select(union).order_by(columns[0], columns[3])):
            options[kind].append((key, label))
    else:
        found.statuses = [(s.value, s.label) for s in ENROLMENT_STATUS_ORDER]
        people = _enrolments_in_scope(actor, review).with_only_columns(Person.organisation_id)
        found.organisations = list(db.session.execute(
            select(Organisation.id, Organisation.name).where(Organisation.id.in_(people))
            .order_by(Organisation.name)).tuples())
    return found


def describe(filters: ReviewFilters, found: Choices) -> str:
    """The filters in words, for the page and the exports: 'Employer: Hackney; Flag: ...' or 'No filters'."""
    def name_of(options, value):
        return next((label for key, label in options if key == value), str(value))

    parts = []
    if filters.organisation_id:
        parts.append(f"Organisation: {name_of(found.organisations, filters.organisation_id)}")
    if filters.standard_id:
        parts.append(f"Standard: {name_of(found.standards, filters.standard_id)}")
    if filters.intake_id:
        parts.append(f"Intake: {name_of(found.intakes, filters.intake_id)}")
    if filters.status:
        parts.append(f"Status: {name_of(found.statuses, filters.status)}")
    if filters.flag:
        parts.append(f"Flag: {flag_label(filters.flag)}")
    if filters.rating:
        parts.append(f"Rating: {filters.rating.label}")
    if filters.search:
        parts.append(f"Name or email containing: {filters.search}")
    return "; ".join(parts) or "No filters"


def describe_sort(filters: ReviewFilters, review: Review) -> str:
    heading = next(c.heading for c in columns_for(review) if c.key == filters.sort)
    if filters.sort == "rating":
        return f"Sorted by rating, {'green' if filters.descending else 'red'} first"
    return f"Sorted by {heading.lower()}, {'descending' if filters.descending else 'ascending'}"


# Rows ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    code: str
    rating: RiskRating
    reason: str

    @property
    def label(self) -> str:
        return flag_label(self.code)

    @property
    def text(self) -> str:
        return f"{self.label} ({self.rating.value}): {self.reason}"


@dataclass
class ReviewRow:
    id: int  # the apprenticeship's or the enrolment's
    person_id: int
    name: str
    email: str
    organisation: str
    status: str
    values: dict = field(default_factory=dict)  # the other columns' values, by column key
    flags: list[Flag] = field(default_factory=list)
    rating: RiskRating | None = None  # from the latest refresh's standing; None before one

    def value(self, column: Column):
        """The cell's value as exported: numbers as numbers, dates as dates, text as text."""
        if column.key == "name":
            return self.name
        if column.key == "organisation":
            return self.organisation
        if column.key == "status":
            return self.status
        if column.key == "rating":
            return self.rating.label if self.rating else NOT_WORKED_OUT
        if column.key == "flags":
            return "\n".join(f.text for f in self.flags)
        return self.values.get(column.key)

    def cells(self, columns: list[Column]) -> list:
        return [self.value(c) for c in columns]


def number(value: Decimal | int | None) -> int | float | None:
    """Hours and percentages as plain numbers: whole numbers as ints, otherwise floats."""
    if value is None:
        return None
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def show_number(value) -> str:
    """A number as the screen shows it (and as CSV writes it): no thousands separator, no needless decimals."""
    return "" if value is None else str(value)


# Pagination -----------------------------------------------------------------------------------------------------


@dataclass
class Page:
    """A page of rows, shaped like Flask-SQLAlchemy's pagination for ``components/pagination.html``."""

    page: int
    per_page: int
    total: int
    items: list

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None

    @property
    def first(self) -> int:
        return 0 if not self.total else (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.per_page)

    def iter_pages(self, *, left_edge=2, left_current=2, right_current=4, right_edge=2):
        last = 0
        for number in range(1, self.pages + 1):
            if (number <= left_edge or self.page - left_current <= number <= self.page + right_current
                    or number > self.pages - right_edge):
                if last + 1 != number:
                    yield None
                yield number
                last = number


# Apprenticeships ----------------------------------------------------------------------------------------------


def _apprenticeships_in_scope(actor: Person, review: Review):
    """Ids of the apprenticeships the review covers for ``actor``, before filters."""
    query = select(Apprenticeship.id)
    scope = policy.apprenticeship_scope_filter(actor)
    if scope is not None:
        query = query.where(scope)
    if review.intake is not None:
        query = query.where(Apprenticeship.intake_id == review.intake.id)
    return query


def _flagged(owner_column: str, owner, code: str):
    """The records with a flag of ``code`` (the flags' code index picks them, then one lookup a record)."""
    column = RiskFlag.__table__.c[owner_column]
    return owner.in_(select(column).where(RiskFlag.code == code, column.is_not(None)))


def _rated(owner_column: str, owner, rating: RiskRating):
    """The records whose standing has ``rating``."""
    column = RiskStanding.__table__.c[owner_column]
    return owner.in_(select(column).where(RiskStanding.rating_rank == risk.RATING_ORDER[rating],
                                          column.is_not(None)))


@dataclass(frozen=True)
class _LastIfMissing:
    """A sort key on a standing's column, with the rows without a standing (null) last in either direction."""

    column: object


def _last_if_missing(column) -> list:
    return [_LastIfMissing(column)]


def _search(term: str):
    term = term.lower()
    return or_(func.lower(Person.name).contains(term, autoescape=True),
               func.lower(Person.email).contains(term, autoescape=True))


def _filtered_apprenticeships(actor: Person, review: Review, filters: ReviewFilters, *, with_person: bool = True):
    """The filtered apprenticeships' ids; joined to the apprentice unless ``with_person`` is False and no search
    needs them (the count then reads the apprenticeships and their standings alone)."""
    query = _apprenticeships_in_scope(actor, review)
    if with_person or filters.search:
        query = query.join(Person, Person.id == Apprenticeship.apprentice_id)
    if filters.organisation_id:
        query = query.where(Apprenticeship.employer_id == filters.organisation_id)
    if filters.standard_id:
        query = query.where(Apprenticeship.standard_version_id.in_(
            select(StandardVersion.id).where(StandardVersion.standard_id == filters.standard_id)))
    if filters.intake_id:
        query = query.where(Apprenticeship.intake_id == filters.intake_id)
    if filters.status:
        query = query.where(Apprenticeship.status == ApprenticeshipStatus(filters.status))
    if filters.flag:
        query = query.where(_flagged("apprenticeship_id", Apprenticeship.id, filters.flag))
    if filters.rating:
        query = query.where(_rated("apprenticeship_id", Apprenticeship.id, filters.rating))
    if filters.search:
        query = query.where(_search(filters.search))
    return query


Employer = aliased(Organisation, name="employer")


def _apprenticeship_sort_columns() -> dict:
    status_order = case({s: n for n, s in enumerate(APPRENTICESHIP_STATUS_ORDER)}, value=Apprenticeship.status)
    return {
        "name": [Person.name], "organisation": [Employer.name], "standard": [Standard.title, Standard.reference],
        "intake": [func.coalesce(Intake.name, "")], "status": [status_order],
        "ends_on": [func.coalesce(Apprenticeship.actual_end_on, Apprenticeship.planned_end_on)],
        "otj_approved": _last_if_missing(RiskStanding.approved_hours),
        "progress": _last_if_missing(RiskStanding.percent_of_expected),
        "rating": _last_if_missing(RiskStanding.rating_rank),
    }


def _apprenticeship_rows_query(ids_query):
    """The rows' columns added to the filtered query itself (which already joins the person), rather than
    ``id IN (filtered ids)``: PostgreSQL then starts from the intake's index instead of joining every
    apprenticeship before keeping the cohort's."""
    return (
        ids_query.with_only_columns(
            Apprenticeship.id, Apprenticeship.apprentice_id, Person.name, Person.email, Employer.name,
            Standard.title, Standard.reference, Standard.level, Intake.name, Apprenticeship.status,
            Apprenticeship.starts_on, Apprenticeship.planned_end_on, Apprenticeship.actual_end_on,
            RiskStanding.rating, RiskStanding.approved_hours, RiskStanding.expected_hours,
            RiskStanding.percent_of_expected)
        .join(Employer, Employer.id == Apprenticeship.employer_id)
        .join(StandardVersion, StandardVersion.id == Apprenticeship.standard_version_id)
        .join(Standard, Standard.id == StandardVersion.standard_id)
        .outerjoin(Intake, Intake.id == Apprenticeship.intake_id)
        .outerjoin(RiskStanding, RiskStanding.apprenticeship_id == Apprenticeship.id),
        _apprenticeship_sort_columns(),
    )


def _apprenticeship_order_query(ids_query, sort: str):
    """The filtered ids with only what sorting by ``sort`` needs joined (the standing, and the employer, the
    standard or the intake when sorting by them): a page's ids are picked from narrow rows, then only those
    rows are read in full."""
    query = ids_query.outerjoin(RiskStanding, RiskStanding.apprenticeship_id == Apprenticeship.id)
    if sort == "organisation":
        query = query.join(Employer, Employer.id == Apprenticeship.employer_id)
    elif sort == "standard":
        query = (query.join(StandardVersion, StandardVersion.id == Apprenticeship.standard_version_id)
                 .join(Standard, Standard.id == StandardVersion.standard_id))
    elif sort == "intake":
        query = query.outerjoin(Intake, Intake.id == Apprenticeship.intake_id)
    return query


def _count_and_spread(ids_query) -> tuple[int, list[tuple[str, int]]]:
    """How many apprenticeships ``ids_query`` finds, and how many of them fall in each band of
    ``PROGRESS_BANDS`` by the % of expected hours of their standing (those without a standing yet are in no
    band): one grouped query over the filtered apprenticeships and their standings."""
    percent = RiskStanding.percent_of_expected
    band = case((percent.is_(None), literal(-1)),
                *[(percent < high, literal(n)) for n, (_label, _low, high) in enumerate(PROGRESS_BANDS)
                  if high is not None], else_=literal(len(PROGRESS_BANDS) - 1))
    counts = dict(db.session.execute(
        ids_query.outerjoin(RiskStanding, RiskStanding.apprenticeship_id == Apprenticeship.id)
        .with_only_columns(band, func.count()).group_by(band)).all())
    return sum(counts.values()), [(label, counts.get(n, 0)) for n, (label, _low, _high) in enumerate(PROGRESS_BANDS)]


def _flags_for(owner_column: str, ids: list[int]) -> dict[int, list[Flag]]:
    found: dict[int, list[Flag]] = {i: [] for i in ids}
    if not ids:
        return found
    column = RiskFlag.__table__.c[owner_column]
    for owner, code, rating, reason in db.session.execute(
        select(column, RiskFlag.code, RiskFlag.rating, RiskFlag.reason).where(column.in_(ids))
    ):
        found[owner].append(Flag(code, RiskRating(rating), reason))
    # Red first, then in the order the rules are listed (as on the apprenticeship's record).
    order = risk.CODE_ORDER
    for flags in found.values():
        flags.sort(key=lambda f: (risk.RATING_ORDER[f.rating], order.get(f.code, len(order))))
    return found


def _rating(value) -> RiskRating | None:
    return None if value is None else RiskRating(value)


def _apprenticeship_rows(result_rows) -> list[ReviewRow]:
    flags = _flags_for("apprenticeship_id", [r.id for r in result_rows])
    return [ReviewRow(
        id=r.id, person_id=r.apprentice_id, name=r[2], email=r.email, organisation=r[4],
        status=ApprenticeshipStatus(r.status).label,
        values={"standard": f"{r.title} ({r.reference}, level {r.level})", "intake": r[8] or "",
                "starts_on": r.starts_on,
                "ends_on": r.actual_end_on or r.planned_end_on, "otj_approved": number(r.approved_hours),
                "otj_expected": number(r.expected_hours), "progress": r.percent_of_expected},
        flags=flags[r.id], rating=_rating(r.rating)) for r in result_rows]


# Enrolments ------------------------------------------------------------------------------------------------------


def _enrolments_in_scope(actor: Person, review: Review):
    query = (select(Enrolment.id).join(Person, Person.id == Enrolment.person_id)
             .where(Enrolment.run_id == review.run.id))
    scope = policy.managed_organisation_ids(actor)
    if scope is not None:
        query = query.where(Person.organisation_id.in_(scope or {-1})) if scope else query.where(false())
    return query


def _filtered_enrolments(actor: Person, review: Review, filters: ReviewFilters):
    query = _enrolments_in_scope(actor, review)
    if filters.organisation_id:
        query = query.where(Person.organisation_id == filters.organisation_id)
    if filters.status:
        query = query.where(Enrolment.status == EnrolmentStatus(filters.status))
    if filters.flag:
        query = query.where(_flagged("enrolment_id", Enrolment.id, filters.flag))
    if filters.rating:
        query = query.where(_rated("enrolment_id", Enrolment.id, filters.rating))
    if filters.search:
        query = query.where(_search(filters.search))
    return query


def _outline_ids(run: CourseRun) -> tuple[list[int], list[int]]:
    items = learning.outline(run.course)
    return ([i.item.id for i in items if i.kind == "lesson"], [i.item.id for i in items if i.kind == "check"])


def _done_count(lesson_ids: list[int], check_ids: list[int]):
    """Lessons opened and checks passed of the course outline: the share done, as on the run's roster."""
    lessons = (select(func.count(distinct(LessonProgress.lesson_id)))
               .where(LessonProgress.enrolment_id == Enrolment.id, LessonProgress.lesson_id.in_(lesson_ids or [-1]))
               .scalar_subquery())
    checks = (select(func.count(distinct(CheckAttempt.check_id)))
              .where(CheckAttempt.enrolment_id == Enrolment.id, CheckAttempt.check_id.in_(check_ids or [-1]),
                     CheckAttempt.passed.is_(True))
              .scalar_subquery())
    return lessons + checks


def _enrolment_rows_query(ids_query, outline: tuple[list[int], list[int]]):
    status_order = case({s: n for n, s in enumerate(ENROLMENT_STATUS_ORDER)}, value=Enrolment.status)
    done = _done_count(*outline)
    return (
        select(Enrolment.id, Enrolment.person_id, Person.name, Person.email, Organisation.name, Enrolment.status,
               Enrolment.enrolled_at, Enrolment.completed_at, done.label("done"), RiskStanding.rating)
        .join(Person, Person.id == Enrolment.person_id)
        .join(Organisation, Organisation.id == Person.organisation_id)
        .outerjoin(RiskStanding, RiskStanding.enrolment_id == Enrolment.id)
        .where(Enrolment.id.in_(ids_query)),
        {
            "name": [Person.name], "organisation": [Organisation.name], "status": [status_order],
            "enrolled_on": [Enrolment.enrolled_at], "completed_on": [Enrolment.completed_at], "progress": [done],
            "rating": _last_if_missing(RiskStanding.rating_rank),
        },
    )


def _london_date(value: datetime | None) -> date | None:
    return None if value is None else value.astimezone(clock.LONDON).date()


def _enrolment_rows(result_rows, items: int) -> list[ReviewRow]:
    flags = _flags_for("enrolment_id", [r.id for r in result_rows])
    return [ReviewRow(
        id=r.id, person_id=r.person_id, name=r[2], email=r.email, organisation=r[4],
        status=EnrolmentStatus(r.status).label,
        values={"enrolled_on": _london_date(r.enrolled_at), "completed_on": _london_date(r.completed_at),
                "progress": round(100 * r.done / items) if items else 0},
        flags=flags[r.id], rating=_rating(r.rating)) for r in result_rows]


# Pages and exports ----------------------------------------------------------------------------------------------


@dataclass
class Result:
    page: Page
    rows: list[ReviewRow]
    spread: list[tuple[str, int]] | None = None  # progress bands of every filtered apprenticeship, if asked for


def _ordered(query, sort_columns: dict, filters: ReviewFilters, id_column):
    keys = []
    for column in sort_columns[filters.sort]:
        if isinstance(column, _LastIfMissing):
            keys.append(case((column.column.is_(None), 1), else_=0).asc())  # last in either direction
            column = column.column
        keys.append(column.desc() if filters.descending else column.asc())
    # Ties in name order, then by record, so pages never overlap.
    return query.order_by(*keys, sort_columns["name"][0].asc(), id_column.asc())


def review_rows(actor: Person, review: Review, filters: ReviewFilters, *, everything: bool = False,
                with_progress: bool = False) -> Result:
    """The filtered, sorted rows: one page of ``PAGE_SIZE`` (or, with ``everything``, all of them, for the
    exports), and with ``with_progress`` the spread of progress of all of them. The number of SQL statements
    does not depend on the number of rows."""
    if review.of_apprenticeships:
        ids_query = _filtered_apprenticeships(actor, review, filters)
        query, sort_columns = _apprenticeship_rows_query(ids_query)
        id_column = Apprenticeship.id
    else:
        ids_query = _filtered_enrolments(actor, review, filters)
        outline = _outline_ids(review.run)
        query, sort_columns = _enrolment_rows_query(ids_query, outline)
        id_column = Enrolment.id

    spread = None
    if everything:
        found = db.session.execute(_ordered(query, sort_columns, filters, id_column)).all()
        total, page_number = len(found), 1
    else:
        # Counted without the apprentices unless a search needs them.
        counted = _filtered_apprenticeships(actor, review, filters, with_person=False) \
            if review.of_apprenticeships else ids_query
        if with_progress and review.of_apprenticeships:
            total, spread = _count_and_spread(counted)
        else:
            total = db.session.scalar(select(func.count()).select_from(counted.subquery()))
        page_number = min(filters.page, max(1, math.ceil(total / PAGE_SIZE)))
        if review.of_apprenticeships:
            # The page's ids from narrow rows, then those rows in full (two short statements rather than one
            # that joins and sorts every column of the whole cohort).
            order_query = _apprenticeship_order_query(ids_query, filters.sort)
            page_ids = list(db.session.scalars(
                _ordered(order_query.with_only_columns(Apprenticeship.id), sort_columns, filters, id_column)
                .limit(PAGE_SIZE).offset((page_number - 1) * PAGE_SIZE)))
            position = {record_id: n for n, record_id in enumerate(page_ids)}
            details, _columns = _apprenticeship_rows_query(
                select(Apprenticeship.id).join(Person, Person.id == Apprenticeship.apprentice_id)
                .where(Apprenticeship.id.in_(page_ids or [-1])))
            found = sorted(db.session.execute(details).all(), key=lambda r: position[r.id])
        else:
            found = db.session.execute(_ordered(query, sort_columns, filters, id_column)
                                       .limit(PAGE_SIZE).offset((page_number - 1) * PAGE_SIZE)).all()

    if review.of_apprenticeships:
        rows = _apprenticeship_rows(found)
    else:
        rows = _enrolment_rows(found, len(outline[0]) + len(outline[1]))
    per_page = max(total, 1) if everything else PAGE_SIZE
    return Result(Page(page_number, per_page, total, rows), rows, spread)


def scope_ids(actor: Person, review: Review) -> list[int]:
    """Every apprenticeship (or enrolment) the review covers for ``actor``, whatever the filters: what
    'Refresh the flags now' refreshes."""
    query = _apprenticeships_in_scope(actor, review) if review.of_apprenticeships else \
        _enrolments_in_scope(actor, review)
    return list(db.session.scalars(query))


def refresh(actor: Person, review: Review) -> dict[str, int]:
    """Work out the flags again for the people this review covers for ``actor`` (the caller commits)."""
    ids = scope_ids(actor, review)
    if review.of_apprenticeships:
        counts = risk.refresh_flags(apprenticeship_ids=ids, enrolment_ids=[]) if ids else {}
    else:
        counts = risk.refresh_flags(apprenticeship_ids=[], enrolment_ids=ids) if ids else {}
    subject = review.intake or review.run or actor
    audit.record(actor, "risk.refreshed", subject, f"Refreshed the risk flags of {review.name}",
                 people=len(ids), **{k: v for k, v in (counts or {}).items() if isinstance(v, int)})
    return counts or {}


def last_refreshed() -> datetime | None:
    return risk.last_refreshed()


# Pictures -----------------------------------------------------------------------------------------------------


def placements_of(apprenticeship_ids: list[int]) -> dict[int, list]:
    """The placements of these apprenticeships with their host organisations, in date order (one query)."""
    found: dict[int, list] = {i: [] for i in apprenticeship_ids}
    if not apprenticeship_ids:
        return found
    for row in db.session.execute(
        select(Placement.apprenticeship_id, Placement.starts_on, Placement.ends_on, Organisation.id.label("host_id"),
               Organisation.name.label("host"))
        .join(Organisation, Organisation.id == Placement.host_organisation_id)
        .where(Placement.apprenticeship_id.in_(apprenticeship_ids))
        .order_by(Placement.apprenticeship_id, Placement.starts_on, Placement.id)
    ):
        found[row.apprenticeship_id].append(row)
    return found


def completions(actor: Person, review: Review) -> tuple[list[date], int]:
    """The London dates of the completions on the run, of the people in scope, and how many people are
    enrolled or completed (one query)."""
    query = (select(Enrolment.status, Enrolment.completed_at)
             .where(Enrolment.id.in_(_enrolments_in_scope(actor, review)),
                    Enrolment.status.in_([EnrolmentStatus.ENROLLED, EnrolmentStatus.COMPLETED])))
    days, taking = [], 0
    for status, completed_at in db.session.execute(query):
        taking += 1
        if status == EnrolmentStatus.COMPLETED and completed_at is not None:
            days.append(_london_date(completed_at))
    return sorted(days), taking


def progress_bands(percents) -> list[tuple[str, int]]:
    """The bands of ``PROGRESS_BANDS`` counted in Python (the review pages count them in SQL)."""
    counts = [0] * len(PROGRESS_BANDS)
    for percent in percents:
        for n, (_label, low, high) in enumerate(PROGRESS_BANDS):
            if (low is None or percent >= low) and (high is None or percent < high):
                counts[n] += 1
                break
    return [(label, counts[n]) for n, (label, _low, _high) in enumerate(PROGRESS_BANDS)]
