"""Cohort review: one row per person of an intake, of a course run, or of every apprenticeship a coordinator
looks after, with their progress, their risk rating (the worst of their flags, see ``services/risk.py``) and the
flags' reasons; filtered, searched, sorted and paginated in SQL, and exported cell for cell as on the screen.

Apprenticeships are read from their review rows (``ApprenticeshipReviewRow``, kept current by
``services/review_rows.py``): one narrow row per apprenticeship with its names, dates, progress, rating and
flags already as shown, so a page is one indexed query for its 50 rows and one for the count and the spread of
progress, whatever the size of the cohort. Pages go forward and back with a cursor on the sort key and the
record (keyset pagination: no page overlaps or skips rows however many share a value), and numbered pages are
there too. A record whose flags have not been worked out yet shows no rating or progress and sorts last.

Course runs' enrolments are read from the enrolments themselves with the standings and flags of the latest
refresh.

Scope: admins and programme-wide coordinators see everyone; a borough coordinator sees the apprentices employed
by or placed in their organisations (the rows' ``ApprenticeshipReviewScope``, as
``policy.apprenticeship_scope_filter``) and the enrolments of people of their organisations
(``policy.managed_organisation_ids``). Every page runs the same number of SQL statements whatever the number of
rows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    case,
    distinct,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)

from app import policy
from app.extensions import db
from app.models import (
    Apprenticeship,
    ApprenticeshipReviewRow,
    ApprenticeshipReviewScope,
    ApprenticeshipStatus,
    CheckAttempt,
    CourseRun,
    Enrolment,
    EnrolmentStatus,
    Intake,
    LessonProgress,
    Organisation,
    Person,
    RiskFlag,
    RiskRating,
    RiskStanding,
    Standard,
)
from app.services import audit, clock, hours, learning, risk
from app.services import review_rows as stored_rows

PAGE_SIZE = 50
# The rating cell of a record the refresh has not seen yet.
NOT_WORKED_OUT = "Not worked out yet"
ENROLMENT_CODES = ("not_started", "deadline_near")
APPRENTICESHIP_STATUS_ORDER = stored_rows.STATUS_ORDER
ENROLMENT_STATUS_ORDER = [EnrolmentStatus.WAITLISTED, EnrolmentStatus.ENROLLED, EnrolmentStatus.COMPLETED,
                          EnrolmentStatus.WITHDRAWN]
PROGRESS_BANDS = stored_rows.PROGRESS_BANDS
ROW = ApprenticeshipReviewRow.__table__.c
SCOPE = ApprenticeshipReviewScope.__table__.c


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


def _cursor_arg(value) -> str | None:
    value = (value or "").strip()
    return value if value and len(value) <= 1200 else None


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
    # Keyset pagination: the page after (or before) the row with this sort key (see ``encode_cursor``).
    after: str | None = None
    before: str | None = None

    @classmethod
    def from_args(cls, args, review: Review) -> ReviewFilters:
        """Filters from a query string (or a form); anything unrecognised is ignored."""
        statuses = {s.value for s in (ApprenticeshipStatus if review.of_apprenticeships else EnrolmentStatus)}
        status, flag, rating = args.get("status", ""), args.get("flag", ""), args.get("rating", "")
        sort = args.get("sort", "")
        sortable = {c.key for c in columns_for(review) if c.sortable}
        page = _int(args.get("page")) or 1
        after = _cursor_arg(args.get("after")) if review.of_apprenticeships else None
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
            after=after,
            before=None if after else _cursor_arg(args.get("before")) if review.of_apprenticeships else None,
        )

    def as_args(self, *, page: bool = False) -> dict:
        """The filters and sort as query arguments, leaving out what is empty or the default; with ``page``, the
        page and its cursor too."""
        args = {"organisation": self.organisation_id, "standard": self.standard_id, "intake": self.intake_id,
                "status": self.status, "flag": self.flag, "rating": self.rating.value if self.rating else None,
                "q": self.search, "sort": None if self.sort == "rating" else self.sort,
                "order": "desc" if self.descending else None}
        if page:
            args.update(page=self.page if self.page > 1 else None, after=self.after, before=self.before)
        return {key: value for key, value in args.items() if value}

    def sorted_by(self, key: str) -> dict:
        """Query arguments to sort by ``key``: ascending first, descending when already ascending."""
        again = replace(self, sort=key, descending=self.sort == key and not self.descending, page=1, after=None,
                        before=None)
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
        shape, values = _scope_and_values(actor, review)
        options = {"organisation": found.organisations, "standard": found.standards, "intake": found.intakes}
        for kind, key, label, _position in db.session.execute(_statement("choices", shape), values):
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
    worked_out_at: datetime | None = None  # when the rating and flags were found
    placements: str = "[]"  # an apprenticeship's placements as its review row keeps them (JSON)
    key: tuple = ()  # the row's sort key, for the cursors of the pages before and after

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
    """Hours as plain numbers, rounded as everywhere (``hours.figure``): whole numbers as ints, otherwise
    floats."""
    return hours.figure(value)


def show_number(value) -> str:
    """A number as the screen shows it (and as CSV writes it): no thousands separator, no needless decimals."""
    return "" if value is None else str(value)


# Pagination -----------------------------------------------------------------------------------------------------


@dataclass
class Page:
    """A page of rows, shaped like Flask-SQLAlchemy's pagination for the page links, with the query arguments
    of the pages before and after (a cursor, for apprenticeships)."""

    page: int
    per_page: int
    total: int
    items: list
    previous_args: dict | None = None
    next_args: dict | None = None

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
        return min(self.total, (self.page - 1) * self.per_page + len(self.items)) if self.items else \
            min(self.total, self.page * self.per_page)

    def iter_pages(self, *, left_edge=2, left_current=2, right_current=4, right_edge=2):
        last = 0
        for number in range(1, self.pages + 1):
            if (number <= left_edge or self.page - left_current <= number <= self.page + right_current
                    or number > self.pages - right_edge):
                if last + 1 != number:
                    yield None
                yield number
                last = number


# Apprenticeships: their review rows ---------------------------------------------------------------------------


def _apprenticeships_in_scope(actor: Person, review: Review):
    """Ids of the apprenticeships the review covers for ``actor``, before filters, from the records themselves
    (what "Refresh the flags now" refreshes)."""
    query = select(Apprenticeship.id)
    scope = policy.apprenticeship_scope_filter(actor)
    if scope is not None:
        query = query.where(scope)
    if review.intake is not None:
        query = query.where(Apprenticeship.intake_id == review.intake.id)
    return query


@dataclass(frozen=True)
class _Shape:
    """What a query over the review rows looks like, apart from its values: queries of the same shape are built
    once (``_statement``) and run again with new values, which spares building them and working out their cache
    keys on every request."""

    intake: bool = False
    scope: str = "all"  # "all", "some" organisations or "none"
    organisation: bool = False
    standard: bool = False
    intake_filter: bool = False
    status: bool = False
    flag: bool = False
    rating: bool = False
    search: bool = False


def _scope_and_values(actor: Person, review: Review, filters: ReviewFilters | None = None) -> tuple[_Shape, dict]:
    """The shape of the rows ``actor`` may see of ``review`` (filtered by ``filters``) and its values."""
    values: dict = {}
    scope = policy.managed_organisation_ids(actor)
    if scope:
        values["scope"] = sorted(scope)
    if review.intake is not None:
        values["intake"] = review.intake.id
    shape = _Shape(intake=review.intake is not None, scope="all" if scope is None else "some" if scope else "none")
    if filters is None:
        return shape, values
    given = {"organisation": filters.organisation_id, "standard": filters.standard_id,
             "intake_filter": filters.intake_id, "status": filters.status and ApprenticeshipStatus(filters.status),
             "flag": filters.flag and 1 << risk.CODE_ORDER[filters.flag],
             "rating": filters.rating and risk.RATING_ORDER[filters.rating],
             "search": filters.search and _like_pattern(filters.search.lower())}
    values.update({name: value for name, value in given.items() if value or value == 0 and name == "rating"})
    return replace(shape, **{name: name in values for name in given}), values


def _like_pattern(term: str) -> str:
    """``term`` with LIKE's wildcards taken literally (escaped with /)."""
    return term.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _conditions(shape: _Shape, *, in_order: bool = False) -> list:
    """Conditions on the review rows for ``shape``, its values as bound parameters: the intake, for a borough
    coordinator the rows their organisations employ or host (look-ups in the scope's index), and the filters.
    ``in_order``: the rows are read in the order of an index until a page is full, so each is checked against
    the scope as it comes (rather than the scope's rows all fetched first, which suits counting them)."""
    conditions = []
    organisations = bindparam("scope", expanding=True)
    if shape.scope == "some" and in_order:
        conditions.append(select(SCOPE.apprenticeship_id).where(
            SCOPE.apprenticeship_id == ROW.apprenticeship_id, SCOPE.organisation_id.in_(organisations)).exists())
    elif shape.scope == "some":
        conditions.append(ROW.apprenticeship_id.in_(select(SCOPE.apprenticeship_id).where(
            SCOPE.organisation_id.in_(organisations))))
    elif shape.scope == "none":
        conditions.append(false())
    if shape.intake:
        conditions.append(ROW.intake_id == bindparam("intake"))
    if shape.organisation:
        conditions.append(ROW.employer_id == bindparam("organisation"))
    if shape.standard:
        conditions.append(ROW.standard_id == bindparam("standard"))
    if shape.intake_filter:
        conditions.append(ROW.intake_id == bindparam("intake_filter"))
    if shape.status:
        conditions.append(ROW.status == bindparam("status", type_=ROW.status.type))
    if shape.flag:
        conditions.append(ROW.flag_mask.op("&")(bindparam("flag", type_=Integer)) != 0)
    if shape.rating:
        conditions.append(ROW.rating_rank == bindparam("rating"))
    if shape.search:
        conditions.append(ROW.search_text.contains(bindparam("search", type_=String), escape="/"))
    return conditions


# Each sort as (column, descending) pairs, ties broken by name then record so that the order is total. Rating and
# progress come first by ``pending``, so records not worked out yet come last in either direction.
_PRIMARY = {
    "organisation": [ROW.employer_name], "standard": [ROW.standard_label], "intake": [ROW.intake_name],
    "status": [ROW.status_order], "ends_on": [ROW.ends_on],
}
_WORKED_OUT = {"otj_approved": ROW.approved_hours, "progress": ROW.percent_of_expected, "rating": ROW.rating_rank}


def sort_key(sort: str, descending: bool) -> list[tuple]:
    if sort == "name":
        return [(ROW.sort_name, descending), (ROW.apprenticeship_id, descending)]
    if sort in _WORKED_OUT:
        first = [(ROW.pending, False), (_WORKED_OUT[sort], descending)]
    else:
        first = [(column, descending) for column in _PRIMARY[sort]]
    return [*first, (ROW.sort_name, False), (ROW.apprenticeship_id, False)]


def encode_cursor(values: tuple) -> str:
    """A row's sort key as a short URL-safe token."""
    plain = [v.isoformat() if isinstance(v, date) else str(v) if isinstance(v, Decimal) else v for v in values]
    text = json.dumps(plain, ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def decode_cursor(token: str | None, key: list[tuple]) -> tuple | None:
    """The sort key in a cursor, each value of its column's type; None for anything not made by
    ``encode_cursor`` for this sort."""
    if not token:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(values, list) or len(values) != len(key):
            return None
        found = []
        for value, (column, _descending) in zip(values, key, strict=True):
            kind = column.type.python_type
            plain = (kind is int and isinstance(value, int) and not isinstance(value, bool)) or (
                kind is str and isinstance(value, str))
            if value is None or plain:
                found.append(value)
            elif kind is date and isinstance(value, str):
                found.append(date.fromisoformat(value))
            elif kind is Decimal and isinstance(value, str) and Decimal(value).is_finite():
                found.append(Decimal(value))
            else:
                return None
        return tuple(found)
    except (ValueError, TypeError, InvalidOperation, binascii.Error, UnicodeDecodeError):
        return None


def _beyond(key: list[tuple], nulls: tuple[bool, ...], *, forward: bool):
    """Rows strictly after (``forward``) or before a row's sort key, given as the bound parameters ``k0``,
    ``k1``... (``nulls`` says which of them are null). One row-value comparison when every column goes the same
    way (an index seeks straight to it), otherwise the comparison spelled out column by column. A null only
    occurs among records not worked out yet, all null alike."""
    bound = [bindparam(f"k{n}", type_=column.type) for n, (column, _descending) in enumerate(key)]
    if not any(nulls) and len({descending for _column, descending in key}) == 1:
        columns = tuple_(*(column for column, _descending in key))
        return columns > tuple_(*bound) if key[0][1] != forward else columns < tuple_(*bound)
    branches = []
    for n, ((column, descending), value) in enumerate(zip(key, bound, strict=True)):
        if not nulls[n]:
            same = [c.is_(None) if null else c == v
                    for (c, _d), v, null in zip(key[:n], bound[:n], nulls[:n], strict=True)]
            branches.append(and_(*same, column > value if descending != forward else column < value))
    return or_(*branches) if branches else false()


def _order(key: list[tuple], *, forward: bool = True) -> list:
    return [column.desc() if descending == forward else column.asc() for column, descending in key]


# What a page reads of each row; the placements (for the timeline) and the time its flags were found (for an
# export's "as at") only when they are wanted, as ``_EXTRA``.
_DISPLAY = [ROW.apprenticeship_id, ROW.person_id, ROW.name, ROW.email, ROW.employer_name, ROW.standard_label,
            ROW.intake_name, ROW.status, ROW.starts_on, ROW.ends_on, ROW.rating, ROW.approved_hours,
            ROW.expected_hours, ROW.percent_of_expected, ROW.flags, ROW.pending, ROW.rating_rank, ROW.sort_name,
            ROW.status_order]
_EXTRA = [ROW.worked_out_at, ROW.placements]


_POSITIONS = {column.key: n for n, column in enumerate(_DISPLAY)}
_RATINGS = {rating.value: rating for rating in RiskRating}


def _rows(found, key: list[tuple]) -> list[ReviewRow]:
    """Review rows as shown, from the selected ``_DISPLAY`` columns, each with its sort key."""
    positions = [_POSITIONS[column.key] for column, _descending in key]
    figure = hours.figure
    extra = len(_DISPLAY)
    return [ReviewRow(
        id=r[0], person_id=r[1], name=r[2], email=r[3], organisation=r[4], status=r[7].label,
        values={"standard": r[5], "intake": r[6], "starts_on": r[8], "ends_on": r[9], "otj_approved": figure(r[11]),
                "otj_expected": figure(r[12]), "progress": r[13]},
        flags=[Flag(code, _RATINGS[rating], reason) for code, rating, reason in json.loads(r[14])],
        rating=r[10], worked_out_at=r[extra] if len(r) > extra else None,
        placements=r[extra + 1] if len(r) > extra else "[]", key=tuple(r[n] for n in positions)) for r in found]


@lru_cache(maxsize=1024)
def _statement(what: str, shape: _Shape, sort: str = "rating", descending: bool = False,
               cursor: tuple[bool, ...] | None = None, forward: bool = True):
    """The statement ``what`` ("count", "count with progress", "page", "everything" or "choices") for rows of
    ``shape``, built once: its values are bound parameters. ``cursor``: which values of the sort key a page's
    cursor has null (None: no cursor)."""
    conditions = _conditions(shape)
    if what.startswith("count"):
        # How many rows match, the earliest time their flags were found, and how many fall in each band of
        # ``PROGRESS_BANDS``: one pass over the matching rows (the index alone, unless a filter needs more).
        # With them, the newest record and the newest row, so that a record added without a row is noticed
        # (``review_rows.fill_missing``) without a statement of its own.
        columns = [func.count(), func.min(ROW.worked_out_at), *stored_rows.NEWEST.selected_columns]
        if what == "count with progress":
            columns += [func.sum(case((ROW.progress_band == n, 1), else_=0)) for n in range(len(PROGRESS_BANDS))]
        return select(*columns).select_from(ApprenticeshipReviewRow.__table__).where(*conditions)
    if what == "choices":
        # The employers, standards (and intakes) that some row of the cohort names: for everyone, each found by
        # one index look-up into the rows rather than by reading the whole cohort; for a borough coordinator,
        # from the index of their organisations' scope rows, which repeat them.
        def named_by(column, owner):
            if shape.scope == "some":
                in_scope = select(SCOPE[column.key]).where(
                    SCOPE.organisation_id.in_(bindparam("scope", expanding=True)))
                if shape.intake:
                    in_scope = in_scope.where(SCOPE.intake_id == bindparam("intake"))
                return owner.in_(in_scope)
            return select(ROW.apprenticeship_id).where(column == owner, *conditions).exists()

        branches = [
            select(literal("organisation"), Organisation.id, Organisation.name,
                   func.row_number().over(order_by=Organisation.name))
            .where(named_by(ROW.employer_id, Organisation.id)),
            select(literal("standard"), Standard.id, Standard.title + " (" + Standard.reference + ")",
                   func.row_number().over(order_by=(Standard.title, Standard.reference)))
            .where(named_by(ROW.standard_id, Standard.id)),
        ]
        if not shape.intake:
            branches.append(
                select(literal("intake"), Intake.id, Intake.name,
                       func.row_number().over(order_by=(Intake.starts_on.desc(), Intake.name)))
                .where(named_by(ROW.intake_id, Intake.id)))
        union = union_all(*branches).subquery()
        columns = list(union.c)
        return select(union).order_by(columns[0], columns[3])
    key = sort_key(sort, descending)
    columns = _DISPLAY + _EXTRA if what in ("everything", "page with placements") else _DISPLAY
    query = select(*columns).where(*_conditions(shape, in_order=True))
    if what == "everything":
        return query.order_by(*_order(key))
    if cursor is not None:
        query = query.where(_beyond(key, cursor, forward=forward))
    return query.order_by(*_order(key, forward=forward)).limit(bindparam("limit")).offset(bindparam("offset"))


def _page_of(shape: _Shape, values: dict, filters: ReviewFilters, key: list[tuple], cursor: tuple | None = None,
             *, forward: bool = True, offset: int = 0, placements: bool = False) -> list:
    """Up to ``PAGE_SIZE`` + 1 rows: from ``offset``, or after (``forward``) or before the ``cursor``."""
    nulls = None
    if cursor is not None:
        nulls = tuple(value is None for value in cursor)
        values = {**values, **{f"k{n}": value for n, value in enumerate(cursor)}}
    statement = _statement("page with placements" if placements else "page", shape, filters.sort,
                           filters.descending, nulls, forward)
    return db.session.execute(statement, {**values, "limit": PAGE_SIZE + 1, "offset": offset}).all()


def _apprenticeship_result(actor: Person, review: Review, filters: ReviewFilters, *, everything: bool,
                           with_progress: bool, placements: bool) -> Result:
    shape, values = _scope_and_values(actor, review, filters)
    key = sort_key(filters.sort, filters.descending)
    if everything:
        rows = _rows(db.session.execute(_statement("everything", shape, filters.sort, filters.descending), values),
                     key)
        as_at = min((row.worked_out_at for row in rows if row.worked_out_at), default=None)
        return Result(Page(1, max(len(rows), 1), len(rows), rows), rows, as_at=as_at)

    count = _statement("count with progress" if with_progress else "count", shape)
    total, as_at, newest_record, newest_row, *bands = db.session.execute(count, values).one()
    healed = newest_record != newest_row and stored_rows.fill_missing()
    if healed:
        total, as_at, _newest_record, _newest_row, *bands = db.session.execute(count, values).one()
    spread = [(label, int(bands[n] or 0)) for n, (label, _low, _high) in enumerate(PROGRESS_BANDS)] \
        if with_progress else None
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page_number = min(filters.page, pages)
    after = decode_cursor(filters.after, key)
    before = None if after else decode_cursor(filters.before, key)
    found, more_after = None, False
    if after is not None:
        page_number = min(max(page_number, 2), pages)
        found = _page_of(shape, values, filters, key, after, placements=placements)
        more_after = len(found) > PAGE_SIZE
        found = found[:PAGE_SIZE]
    elif before is not None:
        found = _page_of(shape, values, filters, key, before, forward=False, placements=placements)
        if len(found) > PAGE_SIZE:
            found, more_after = found[:PAGE_SIZE][::-1], True
            page_number = max(2, min(page_number, pages))
        else:
            found = None  # the first page (or what is left of it): read it from the start
    if not found:
        if after is not None or before is not None:
            page_number = 1
        found = _page_of(shape, values, filters, key, offset=(page_number - 1) * PAGE_SIZE,
                         placements=placements)
        more_after = len(found) > PAGE_SIZE
        found = found[:PAGE_SIZE]
    rows = _rows(found, key)

    base = filters.as_args()
    page = Page(page_number, PAGE_SIZE, total, rows)
    if rows and more_after:
        page.next_args = {**base, "after": encode_cursor(rows[-1].key), "page": page_number + 1}
    if page_number == 2:
        page.previous_args = base
    elif page_number > 2 and rows:
        page.previous_args = {**base, "before": encode_cursor(rows[0].key), "page": page_number - 1}
    return Result(page, rows, spread, as_at=as_at, healed=healed)


# Enrolments ------------------------------------------------------------------------------------------------------


def _enrolments_in_scope(actor: Person, review: Review):
    query = (select(Enrolment.id).join(Person, Person.id == Enrolment.person_id)
             .where(Enrolment.run_id == review.run.id))
    scope = policy.managed_organisation_ids(actor)
    if scope is not None:
        query = query.where(Person.organisation_id.in_(scope or {-1})) if scope else query.where(false())
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


def _search(term: str):
    term = term.lower()
    return or_(func.lower(Person.name).contains(term, autoescape=True),
               func.lower(Person.email).contains(term, autoescape=True))


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
    missing = case((RiskStanding.rating_rank.is_(None), 1), else_=0)
    return (
        select(Enrolment.id, Enrolment.person_id, Person.name, Person.email, Organisation.name, Enrolment.status,
               Enrolment.enrolled_at, Enrolment.completed_at, done.label("done"), RiskStanding.rating,
               RiskStanding.found_at)
        .join(Person, Person.id == Enrolment.person_id)
        .join(Organisation, Organisation.id == Person.organisation_id)
        .outerjoin(RiskStanding, RiskStanding.enrolment_id == Enrolment.id)
        .where(Enrolment.id.in_(ids_query)),
        {
            "name": [Person.name], "organisation": [Organisation.name], "status": [status_order],
            "enrolled_on": [Enrolment.enrolled_at], "completed_on": [Enrolment.completed_at], "progress": [done],
            # Those without a standing last in either direction.
            "rating": [(missing, False), RiskStanding.rating_rank],
        },
    )


def _london_date(value: datetime | None) -> date | None:
    return None if value is None else value.astimezone(clock.LONDON).date()


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


def _enrolment_rows(result_rows, items: int) -> list[ReviewRow]:
    flags = _flags_for("enrolment_id", [r.id for r in result_rows])
    return [ReviewRow(
        id=r.id, person_id=r.person_id, name=r[2], email=r.email, organisation=r[4],
        status=EnrolmentStatus(r.status).label,
        values={"enrolled_on": _london_date(r.enrolled_at), "completed_on": _london_date(r.completed_at),
                "progress": round(100 * r.done / items) if items else 0},
        flags=flags[r.id], rating=None if r.rating is None else RiskRating(r.rating), worked_out_at=r.found_at)
        for r in result_rows]


def _enrolment_ordered(query, sort_columns: dict, filters: ReviewFilters):
    keys = []
    for column in sort_columns[filters.sort]:
        if isinstance(column, tuple):  # a fixed direction
            keys.append(column[0].asc())
            continue
        keys.append(column.desc() if filters.descending else column.asc())
    # Ties in name order, then by record, so pages never overlap.
    return query.order_by(*keys, Person.name.asc(), Enrolment.id.asc())


def _enrolment_result(actor: Person, review: Review, filters: ReviewFilters, *, everything: bool) -> Result:
    ids_query = _filtered_enrolments(actor, review, filters)
    outline = _outline_ids(review.run)
    query, sort_columns = _enrolment_rows_query(ids_query, outline)
    ordered = _enrolment_ordered(query, sort_columns, filters)
    if everything:
        found = db.session.execute(ordered).all()
        total, page_number = len(found), 1
    else:
        total = db.session.scalar(select(func.count()).select_from(ids_query.subquery()))
        page_number = min(filters.page, max(1, math.ceil(total / PAGE_SIZE)))
        found = db.session.execute(ordered.limit(PAGE_SIZE).offset((page_number - 1) * PAGE_SIZE)).all()
    rows = _enrolment_rows(found, len(outline[0]) + len(outline[1]))
    page = Page(page_number, max(total, 1) if everything else PAGE_SIZE, total, rows)
    base = filters.as_args()
    if page.has_prev:
        page.previous_args = {**base, "page": page_number - 1} if page_number > 2 else base
    if page.has_next:
        page.next_args = {**base, "page": page_number + 1}
    return Result(page, rows, as_at=risk.last_refreshed(enrolments=True))


# Pages and exports ----------------------------------------------------------------------------------------------


@dataclass
class Result:
    page: Page
    rows: list[ReviewRow]
    spread: list[tuple[str, int]] | None = None  # progress bands of every filtered apprenticeship, if asked for
    as_at: datetime | None = None  # the earliest time the flags shown were found
    healed: bool = False  # rows were written for records that had none (the caller commits)


def review_rows(actor: Person, review: Review, filters: ReviewFilters, *, everything: bool = False,
                with_progress: bool = False, placements: bool = False) -> Result:
    """The filtered, sorted rows: one page of ``PAGE_SIZE`` (or, with ``everything``, all of them, for the
    exports), and with ``with_progress`` the spread of progress of all of them; with ``placements`` the rows
    carry their placements (an apprenticeship's, for the timeline). The number of SQL statements does not depend
    on the number of rows."""
    if review.of_apprenticeships:
        return _apprenticeship_result(actor, review, filters, everything=everything, with_progress=with_progress,
                                      placements=placements)
    return _enrolment_result(actor, review, filters, everything=everything)


@lru_cache(maxsize=8)
def _tally_statement(shape: _Shape, codes: tuple[str, ...]):
    """How many rows of ``shape`` have each rating, then each flag of ``codes``: one pass over the rows."""
    def rows_where(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    columns = [rows_where(ROW.rating_rank == risk.RATING_ORDER[rating]) for rating in RiskRating]
    columns += [rows_where(ROW.flag_mask.op("&")(1 << risk.CODE_ORDER[code]) != 0) for code in codes]
    return select(*columns).select_from(ApprenticeshipReviewRow.__table__).where(*_conditions(shape))


def tally(actor: Person, codes: tuple[str, ...] = ()) -> dict[str, int]:
    """How many apprentices of ``actor``'s review of all apprentices are rated red, amber and green, and how many
    have each flag of ``codes``: the totals the review shows filtered by that rating or flag (one statement)."""
    shape, values = _scope_and_values(actor, Review.of_apprentices())
    found = db.session.execute(_tally_statement(shape, tuple(codes)), values).one()
    keys = [rating.value for rating in RiskRating] + list(codes)
    return {key: int(n) for key, n in zip(keys, found, strict=True)}


def fill_missing_rows(review: Review) -> bool:
    """Before reading every row of an apprenticeship review (a page's count notices on its own): rows for
    records added without one (``review_rows.fill_missing``). True when some were written (the caller
    commits)."""
    return review.of_apprenticeships and stored_rows.fill_missing()


def export_tag(actor: Person, review: Review, filters: ReviewFilters, fmt: str, viewer: tuple = ()) -> str | None:
    """The ETag of an apprenticeship review's export (or picture): what the rows were when last written (one
    look-up in an index), the review, the filters and sort, the viewer's scope, anything else of the ``viewer``
    the response shows, and the day (the file's name carries the date). None for a run's review, whose progress
    changes with every lesson opened."""
    if not review.of_apprenticeships:
        return None
    scope = policy.managed_organisation_ids(actor)
    written = stored_rows.last_written()
    parts = [fmt, review.kind, review.intake.id if review.intake else "", review.name,
             written.isoformat() if written else "", "all" if scope is None else sorted(scope),
             sorted(filters.as_args().items()), clock.today().isoformat(), *viewer]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


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
        counts[stored_rows.progress_band(percent)] += 1
    return [(label, counts[n]) for n, (label, _low, _high) in enumerate(PROGRESS_BANDS)]
