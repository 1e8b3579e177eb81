"""Cohort review pages: an intake's, a course run's and every apprentice in a coordinator's organisations, with
progress, ratings and the flags' reasons; filters, sorting, search, pages, scope, exports that match the screen
cell for cell, the refresh button, the pictures, and a number of SQL statements that does not grow with the rows."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import quote

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, event, func, insert, select

from app import cohort_charts
from app.extensions import db
from app.models import (
    Apprenticeship,
    ApprenticeshipReviewRow,
    ApprenticeshipStatus,
    AuditEvent,
    Enrolment,
    EnrolmentStatus,
    OtjStatus,
    RiskFlag,
    RiskRating,
    RiskStanding,
    Role,
)
from app.models.types import utcnow
from app.services import clock, cohort_exports, otj_totals, review_rows, risk
from app.services import cohort_review as reviewing
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_intake,
    make_otj,
    make_placement,
    make_standard_version,
    make_supervisor,
)
from tests.conftest import make_person, organisation, post_form, sign_in
from tests.course_factories import enrol, make_course, make_learner, make_run, record_progress
from tests.pages import html_of, text_of

HACKNEY, TOWER_HAMLETS, LAMBETH = "E09000012", "E09000030", "E09000022"


# Reading the review table ------------------------------------------------------------------------------------------


class _ReviewTable(HTMLParser):
    """The review table's rows as {column key: text}: dates as their ISO ``datetime``, flags one per line."""

    def __init__(self):
        super().__init__()
        self.in_table = False
        self.headers: list[tuple[str, str | None]] = []
        self.rows: list[dict[str, str]] = []
        self.links: list[str] = []
        self._cell: str | None = None
        self._header: str | None = None
        self._text: list[str] = []
        self._items: list[str] = []
        self._sort: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == "review":
            self.in_table = True
        if not self.in_table:
            return
        if tag == "tr":
            self._row: dict[str, str] = {}
        elif tag == "th" and "data-column" in attrs:
            self._header, self._sort, self._text = attrs["data-column"], attrs.get("aria-sort"), []
        elif tag == "td" and "data-column" in attrs:
            self._cell, self._text, self._items = attrs["data-column"], [], []
        elif tag == "time" and self._cell:
            self._text.append(attrs["datetime"])
            self._skip = True
        elif tag == "li" and self._cell:
            self._text = []
        elif tag == "a" and self._cell == "name":
            self.links.append(attrs["href"])

    def handle_endtag(self, tag):
        if not self.in_table:
            return
        if tag == "table":
            self.in_table = False
        elif tag == "th" and self._header:
            self.headers.append((self._header, self._sort))
            self._header = None
        elif tag == "li" and self._cell:
            self._items.append(" ".join("".join(self._text).split()))
            self._text = []
        elif tag == "td" and self._cell:
            text = "\n".join(self._items) if self._cell == "flags" else " ".join("".join(self._text).split())
            self._row[self._cell] = text
            self._cell = None
        elif tag == "tr" and getattr(self, "_row", None):
            self.rows.append(self._row)
            self._row = {}
        elif tag == "time":
            self._skip = False

    def handle_data(self, data):
        if (self._cell or self._header) and not getattr(self, "_skip", False):
            self._text.append(data)


def review_table(response) -> _ReviewTable:
    assert response.status_code == 200, response.status_code
    parser = _ReviewTable()
    parser.feed(html_of(response))
    return parser


def names(response) -> list[str]:
    return [row["name"] for row in review_table(response).rows]


def count_statements(client, path: str) -> int:
    statements = []

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before_cursor_execute)
    try:
        response = client.get(path)
    finally:
        event.remove(db.engine, "before_cursor_execute", before_cursor_execute)
    assert response.status_code == 200
    return len(statements)


# A world: an intake across three boroughs ---------------------------------------------------------------------------


def stand_all(found_at: datetime | None = None) -> None:
    """Standings for every apprenticeship and enrolment as a refresh writes them, but from the flags in the
    table (which these tests write by hand) and the hours recorded now."""
    db.session.execute(delete(RiskStanding))
    ratings: dict[tuple[str, int], list[RiskRating]] = {}
    for f in db.session.scalars(select(RiskFlag)):
        key = ("a", f.apprenticeship_id) if f.apprenticeship_id else ("e", f.enrolment_id)
        ratings.setdefault(key, []).append(f.rating)
    found_at = found_at or utcnow()

    def standing(key, **columns):
        rating = risk.worst(ratings.get(key, []))
        return {"apprenticeship_id": None, "enrolment_id": None, "rating": rating,
                "rating_rank": risk.RATING_ORDER[rating], "flag_count": len(ratings.get(key, [])),
                "approved_hours": None, "expected_hours": None, "percent_of_expected": None, "found_at": found_at,
                **columns}

    rows = []
    for a in db.session.scalars(select(Apprenticeship)):
        approved = otj_totals.totals(a).approved_hours
        expected, percent = risk.progress_figures(a, approved, clock.today())
        rows.append(standing(("a", a.id), apprenticeship_id=a.id, person_id=a.apprentice_id,
                             approved_hours=approved, expected_hours=expected, percent_of_expected=percent))
    for e in db.session.scalars(select(Enrolment)):
        rows.append(standing(("e", e.id), enrolment_id=e.id, person_id=e.person_id))
    if rows:
        db.session.execute(insert(RiskStanding.__table__), rows)
    review_rows.write()  # the review rows, from these standings and flags
    db.session.commit()


def flag(apprenticeship=None, code="otj_behind", rating=RiskRating.RED, reason="Behind", *, enrolment=None,
         found_at: datetime | None = None, stand: bool = True) -> RiskFlag:
    owner = apprenticeship or enrolment
    person_id = apprenticeship.apprentice_id if apprenticeship is not None else enrolment.person_id
    row = RiskFlag(apprenticeship_id=apprenticeship.id if apprenticeship else None,
                   enrolment_id=enrolment.id if enrolment else None, person_id=person_id, code=code, rating=rating,
                   reason=reason, details={}, found_at=found_at or utcnow())
    db.session.add(row)
    db.session.commit()
    assert owner is not None
    if stand:
        stand_all(found_at)
    return row


@dataclass
class World:
    intake: object
    version: object
    other_version: object
    amal: object  # employed by Hackney: red (OTJ behind) and amber
    bo: object  # employed by Tower Hamlets, placed in Hackney: amber
    cy: object  # employed by Lambeth, placed in Lambeth: green, out of Hackney's scope
    coordinator: object
    admin: object


@pytest.fixture
def world() -> World:
    version = make_standard_version("ST0116", title="Software developer")
    other = make_standard_version("ST0118", title="Data analyst")
    intake = make_intake("September 2025")
    start = clock.today() - timedelta(days=200)
    amal = make_apprenticeship(make_apprentice("amal@example.org", name="Amal Hackney"), standard_version=version,
                               intake=intake, starts_on=start, schedule=False)
    bo = make_apprenticeship(make_apprentice("bo@example.org", name="Bo Placed", organisation_code=TOWER_HAMLETS),
                             standard_version=other, intake=intake, employer_code=TOWER_HAMLETS, starts_on=start,
                             schedule=False, status=ApprenticeshipStatus.BREAK_IN_LEARNING)
    cy = make_apprenticeship(make_apprentice("cy@example.org", name="Cy Elsewhere", organisation_code=LAMBETH),
                             standard_version=version, intake=intake, employer_code=LAMBETH, starts_on=start,
                             schedule=False)
    hackney_supervisor = make_supervisor("hackney.supervisor@example.org")
    make_placement(amal, host_code=HACKNEY, ends_on=start + timedelta(days=99), supervisor=hackney_supervisor)
    make_placement(amal, host_code=TOWER_HAMLETS, starts_on=start + timedelta(days=120))
    make_placement(bo, host_code=HACKNEY, supervisor=hackney_supervisor)
    make_placement(cy, host_code=LAMBETH)
    make_otj(amal, minutes=600, status=OtjStatus.APPROVED)
    make_otj(amal, minutes=300, status=OtjStatus.SUBMITTED)
    flag(amal, "otj_behind", RiskRating.RED, "Off-the-job hours 10 of 120 expected by today (8%)", stand=False)
    flag(amal, "placement_gap", RiskRating.AMBER, "No placement for 20 days", stand=False)
    flag(bo, "review_unsigned", RiskRating.AMBER, "Progress review 1 still needs signing by the employer",
         stand=False)
    stand_all()
    coordinator = make_coordinator("hackney.coordinator@example.org", scope=(HACKNEY,))
    admin = make_person("admin@example.org", name="Alex Admin", roles=(Role.ADMIN,), organisation_code="LC")
    return World(intake, version, other, amal, bo, cy, coordinator, admin)


def review_path(world: World, query: str = "") -> str:
    return f"/intakes/{world.intake.id}/review" + (f"?{query}" if query else "")


# Rows, ratings and flags ----------------------------------------------------------------------------------------


def test_the_intake_review_shows_each_apprentice_with_progress_rating_and_flags(client, world):
    sign_in(client, world.admin)
    response = client.get(review_path(world))
    table = review_table(response)
    by_name = {row["name"]: row for row in table.rows}

    # Worst first by default: red, then amber, then green.
    assert [row["name"] for row in table.rows] == ["Amal Hackney", "Bo Placed", "Cy Elsewhere"]
    amal = by_name["Amal Hackney"]
    assert amal["rating"] == "Red"
    assert amal["flags"] == ("Off-the-job hours behind plan (red): Off-the-job hours 10 of 120 expected by today (8%)\n"
                             "Gap between placements (amber): No placement for 20 days")
    assert amal["organisation"] == "London Borough of Hackney"
    assert amal["standard"] == "Software developer (ST0116, level 4)"
    assert amal["status"] == "Active"
    assert amal["otj_approved"] == "10"  # 600 approved minutes; waiting hours do not count
    expected = otj_totals.expected_hours(world.amal, clock.today())
    assert amal["otj_expected"] == str(reviewing.number(expected))
    assert amal["progress"] == str(int(10 * 100 / expected))
    assert amal["ends_on"] == world.amal.planned_end_on.isoformat()
    assert by_name["Bo Placed"]["rating"] == "Amber" and by_name["Bo Placed"]["status"] == "Break in learning"
    assert by_name["Cy Elsewhere"]["rating"] == "Green" and by_name["Cy Elsewhere"]["flags"] == ""
    # The name opens the apprenticeship record; the rating is a GOV.UK tag.
    assert f"/apprenticeships/{world.amal.id}" in table.links
    assert '<strong class="govuk-tag govuk-tag--red">Red</strong>' in html_of(response)
    assert '<strong class="govuk-tag govuk-tag--orange">Amber</strong>' in html_of(response)
    # When the flags were found, and the count of results.
    text = text_of(response)
    assert "Ratings, flags and off-the-job progress as at" in text
    assert "3 apprentices" in text and "No filters" in text


def test_before_any_refresh_the_page_says_so(client, world):
    db.session.query(RiskFlag).delete()
    db.session.query(RiskStanding).delete()
    db.session.query(ApprenticeshipReviewRow).delete()  # written again, without ratings, when the page opens
    db.session.commit()
    sign_in(client, world.admin)
    response = client.get(review_path(world))
    text = text_of(response)
    assert "The flags have not been worked out yet" in text
    rows = review_table(response).rows
    assert {(row["rating"], row["otj_approved"], row["progress"]) for row in rows} == {("Not worked out yet", "", "")}


def test_progress_and_ratings_are_as_at_the_refresh_and_new_records_sort_last(client, world):
    sign_in(client, world.admin)
    make_otj(world.amal, minutes=6000, status=OtjStatus.APPROVED)  # after the refresh: not shown until the next
    late = make_apprenticeship(make_apprentice("late@example.org", name="Aaron Late"), standard_version=world.version,
                               intake=world.intake, schedule=False)
    table = review_table(client.get(review_path(world)))
    assert [row["name"] for row in table.rows] == ["Amal Hackney", "Bo Placed", "Cy Elsewhere", "Aaron Late"]
    by_name = {row["name"]: row for row in table.rows}
    assert by_name["Amal Hackney"]["otj_approved"] == "10"
    assert (by_name["Aaron Late"]["rating"], by_name["Aaron Late"]["progress"]) == ("Not worked out yet", "")
    for query in ("sort=progress", "sort=progress&order=desc", "sort=otj_approved&order=desc", "order=desc"):
        assert names(client.get(review_path(world, query)))[-1] == "Aaron Late", query
    assert "Aaron Late" not in names(client.get(review_path(world, "rating=green")))

    post_form(client, f"/intakes/{world.intake.id}/review/refresh", {}, token_from=review_path(world))
    by_name = {row["name"]: row for row in review_table(client.get(review_path(world))).rows}
    assert by_name["Amal Hackney"]["otj_approved"] == "110" and by_name["Aaron Late"]["rating"] != "Not worked out yet"
    assert late.id


def test_rating_sort_filter_and_the_spread_come_from_the_standings(client, world):
    # The standings (through the review rows written from them), not the flags, decide: a standing saying red
    # makes Cy red whatever the flags say.
    db.session.execute(RiskStanding.__table__.update().where(RiskStanding.apprenticeship_id == world.cy.id)
                       .values(rating=RiskRating.RED, rating_rank=0, percent_of_expected=80))
    db.session.execute(RiskStanding.__table__.update().where(RiskStanding.apprenticeship_id == world.bo.id)
                       .values(percent_of_expected=95))
    db.session.execute(RiskStanding.__table__.update().where(RiskStanding.apprenticeship_id == world.amal.id)
                       .values(percent_of_expected=20))
    review_rows.write()
    db.session.commit()
    sign_in(client, world.admin)
    assert names(client.get(review_path(world))) == ["Amal Hackney", "Cy Elsewhere", "Bo Placed"]
    assert names(client.get(review_path(world, "rating=red"))) == ["Amal Hackney", "Cy Elsewhere"]
    assert names(client.get(review_path(world, "sort=progress"))) == ["Amal Hackney", "Cy Elsewhere", "Bo Placed"]
    spread = reviewing.review_rows(world.admin, reviewing.Review.of_intake(world.intake),
                                   reviewing.ReviewFilters(), with_progress=True).spread
    assert spread == [("Under 75%", 1), ("75% to 89%", 1), ("90% to 99%", 1), ("100% or more", 0)]
    html = html_of(client.get(review_path(world, "rating=red")))
    assert '<g data-band="75% to 89%">' in html
    assert db.session.scalar(select(func.count()).select_from(RiskStanding)) == 3


# Scope ---------------------------------------------------------------------------------------------------------


def test_a_borough_coordinator_sees_only_apprentices_employed_or_placed_in_their_organisations(client, world):
    sign_in(client, world.coordinator)
    assert sorted(names(client.get(review_path(world)))) == ["Amal Hackney", "Bo Placed"]
    assert sorted(names(client.get("/cohort-review/apprentices"))) == ["Amal Hackney", "Bo Placed"]
    assert "All apprentices in your organisations" in text_of(client.get("/cohort-review/apprentices"))
    # Lambeth's apprentice is not reachable by a search, a filter or an export either.
    assert names(client.get(review_path(world, "q=cy"))) == []
    assert "Cy Elsewhere" not in client.get(review_path(world) + ".csv").get_data(as_text=True)


def test_an_admin_sees_everyone(client, world):
    sign_in(client, world.admin)
    assert len(names(client.get("/cohort-review/apprentices"))) == 3
    assert "All apprentices" in text_of(client.get("/cohort-review/apprentices"))


def test_intakes_and_runs_outside_the_coordinators_scope_are_not_found(client, world):
    lambeth_only = make_intake("Lambeth only")
    make_apprenticeship(make_apprentice("dee@example.org", name="Dee Lambeth", organisation_code=LAMBETH),
                        standard_version=world.version, intake=lambeth_only, employer_code=LAMBETH, schedule=False)
    run = make_run(make_course(), name="Spring")
    enrol(make_learner(organisation_code=LAMBETH), run)
    sign_in(client, world.coordinator)
    for path in (f"/intakes/{lambeth_only.id}/review", f"/intakes/{lambeth_only.id}/review.csv",
                 f"/intakes/{lambeth_only.id}/review.xlsx", f"/runs/{run.id}/review", f"/runs/{run.id}/review.csv",
                 "/intakes/99999/review", "/runs/99999/review"):
        assert client.get(path).status_code == 404, path
    assert post_form(client, f"/intakes/{lambeth_only.id}/review/refresh", token_from=review_path(world)
                     ).status_code == 404
    # The intake's own coordinator may review it even before anyone is in their scope.
    wide = make_coordinator("own@example.org", scope=(HACKNEY,))
    lambeth_only.coordinator_id = wide.id
    db.session.commit()
    other = client.application.test_client()
    sign_in(other, wide)
    assert other.get(f"/intakes/{lambeth_only.id}/review").status_code == 200


def test_learners_and_apprentices_may_not_review(client, world):
    sign_in(client, make_person("lee@example.org", roles=(Role.LEARNER, Role.SUPERVISOR)))
    assert client.get(review_path(world)).status_code == 403
    assert client.get("/cohort-review/apprentices").status_code == 403


# Filters, search, sorting and pages ---------------------------------------------------------------------------


FILTER_CASES = [
    ("organisation={hackney}", ["Amal Hackney"]),
    ("organisation={tower_hamlets}", ["Bo Placed"]),
    ("standard={data_analyst}", ["Bo Placed"]),
    ("status=break_in_learning", ["Bo Placed"]),
    ("status=withdrawn", []),
    ("flag=otj_behind", ["Amal Hackney"]),
    ("flag=review_unsigned", ["Bo Placed"]),
    ("flag=no_placement", []),
    ("rating=red", ["Amal Hackney"]),
    ("rating=amber", ["Bo Placed"]),
    ("rating=green", ["Cy Elsewhere"]),
    ("q=PLACED", ["Bo Placed"]),
    ("q=cy%40example", ["Cy Elsewhere"]),
    ("q=%25", []),
    ("rating=amber&status=active", []),
    ("status=nonsense&flag=nonsense&rating=purple&organisation=x", ["Amal Hackney", "Bo Placed", "Cy Elsewhere"]),
]


def test_each_filter(client, world):
    sign_in(client, world.admin)
    for query, expected in FILTER_CASES:
        query = query.format(hackney=organisation(HACKNEY).id, tower_hamlets=organisation(TOWER_HAMLETS).id,
                             data_analyst=world.other_version.standard_id)
        response = client.get(review_path(world, query))
        assert names(response) == expected, query
        noun = "apprentice" if len(expected) == 1 else "apprentices"
        assert f"{len(expected)} {noun}" in text_of(response), query


def test_the_filters_are_described_and_kept_in_the_form(client, world):
    sign_in(client, world.admin)
    response = client.get(review_path(world, f"flag=otj_behind&rating=red&q=amal&organisation="
                                             f"{organisation(HACKNEY).id}"))
    text = text_of(response)
    assert ("Organisation: London Borough of Hackney; Flag: Off-the-job hours behind plan; Rating: Red; "
            "Name or email containing: amal") in text
    html = html_of(response)
    assert '<option value="otj_behind" selected>' in html and '<option value="red" selected>' in html
    assert 'value="amal"' in html


def test_the_apprentices_page_filters_by_intake(client, world):
    other = make_intake("January 2026")
    make_apprenticeship(make_apprentice("eve@example.org", name="Eve January"), standard_version=world.version,
                        intake=other, schedule=False)
    sign_in(client, world.coordinator)
    assert names(client.get(f"/cohort-review/apprentices?intake={other.id}&sort=name")) == ["Eve January"]
    assert len(names(client.get("/cohort-review/apprentices"))) == 3


def test_sorting_by_each_column_with_accessible_headers(client, world):
    sign_in(client, world.admin)
    response = client.get(review_path(world, "sort=name"))
    table = review_table(response)
    assert names(response) == ["Amal Hackney", "Bo Placed", "Cy Elsewhere"]
    sorts = dict(table.headers)
    assert sorts["name"] == "ascending" and sorts["rating"] == "none" and sorts["flags"] is None
    # The sorted column's link sorts the other way; the others sort ascending first.
    html = html_of(response)
    assert f'href="/intakes/{world.intake.id}/review?sort=name&amp;order=desc"' in html
    assert names(client.get(review_path(world, "sort=name&order=desc"))) == ["Cy Elsewhere", "Bo Placed",
                                                                             "Amal Hackney"]
    assert dict(review_table(client.get(review_path(world, "sort=name&order=desc"))).headers)["name"] == "descending"
    assert names(client.get(review_path(world, "sort=organisation"))) == ["Amal Hackney", "Cy Elsewhere", "Bo Placed"]
    assert names(client.get(review_path(world, "sort=standard"))) == ["Bo Placed", "Amal Hackney", "Cy Elsewhere"]
    assert names(client.get(review_path(world, "sort=status"))) == ["Amal Hackney", "Cy Elsewhere", "Bo Placed"]
    assert names(client.get(review_path(world, "sort=otj_approved&order=desc")))[0] == "Amal Hackney"
    assert names(client.get(review_path(world, "sort=progress")))[-1] == "Amal Hackney"
    assert names(client.get(review_path(world, "sort=progress&order=desc")))[0] == "Amal Hackney"
    assert names(client.get(review_path(world, "order=desc"))) == ["Cy Elsewhere", "Bo Placed", "Amal Hackney"]
    # An unknown column falls back to the rating.
    assert names(client.get(review_path(world, "sort=flags"))) == ["Amal Hackney", "Bo Placed", "Cy Elsewhere"]


def many_apprentices(intake, version, count: int, *, prefix: str = "Many"):
    """``count`` apprentices with a placement each, some approved hours, and a flag on every third."""
    supervisors = {code: make_supervisor(f"{prefix.lower()}.supervisor.{code}@example.org", organisation_code=code)
                   for code in (HACKNEY, TOWER_HAMLETS)}
    for n in range(count):
        a = make_apprenticeship(make_apprentice(f"{prefix.lower()}{n:02d}@example.org", name=f"{prefix} {n:02d}"),
                                standard_version=version, intake=intake, schedule=False)
        host = HACKNEY if n % 2 else TOWER_HAMLETS
        make_placement(a, host_code=host, supervisor=supervisors[host])
        make_otj(a, minutes=60 * (n % 7 + 1), status=OtjStatus.APPROVED)
        if n % 3 == 0:
            flag(a, "otj_behind", RiskRating.RED if n % 2 else RiskRating.AMBER, f"Behind {n}", stand=False)
    stand_all()


def test_pages_of_fifty_keep_the_filters_and_sort(client, world):
    many_apprentices(world.intake, world.version, 57)
    sign_in(client, world.admin)
    first = client.get(review_path(world, "sort=name&q=many"))
    second = client.get(review_path(world, "sort=name&q=many&page=2"))
    assert len(names(first)) == 50 and names(first)[0] == "Many 00"
    assert names(second) == [f"Many {n}" for n in range(50, 57)]
    assert "Showing 1 to 50 of 57" in text_of(first) and "Showing 51 to 57 of 57" in text_of(second)
    assert f'href="/intakes/{world.intake.id}/review?page=2&amp;q=many&amp;sort=name"' in html_of(first)
    assert "govuk-pagination" in html_of(first)
    # A page past the end shows the last page.
    assert names(client.get(review_path(world, "sort=name&q=many&page=9"))) == names(second)
    # Sorted by progress (worked out in Python), the pages still split the same ordered list.
    by_progress = names(client.get(review_path(world, "sort=progress&q=many"))) + \
        names(client.get(review_path(world, "sort=progress&q=many&page=2")))
    assert sorted(by_progress) == sorted(f"Many {n:02d}" for n in range(57))


NEXT_LINK = re.compile(r'href="([^"]+)" rel="next"')
PREVIOUS_LINK = re.compile(r'href="([^"]+)" rel="prev"')


def record_ids(response) -> list[int]:
    return [int(link.rsplit("/", 1)[1]) for link in review_table(response).links]


def follow(client, path: str, link: re.Pattern, *, between=None) -> list[list[int]]:
    """Every page from ``path`` on, following the "Next" (or "Previous") links: each page's records."""
    pages = []
    while path:
        response = client.get(path)
        pages.append(record_ids(response))
        if between:
            between(len(pages))
        found = link.search(html_of(response))
        path = found.group(1).replace("&amp;", "&") if found else None
        assert len(pages) < 20, "the pages never end"
    return pages


def tied_apprentices(world, count: int):
    """``count`` apprentices who tie on everything but their record: the same name, rating and progress."""
    supervisor = make_supervisor("tied.supervisor@example.org")
    for n in range(count):
        a = make_apprenticeship(make_apprentice(f"tied{n:03d}@example.org", name="Sam Tied"),
                                standard_version=world.version, intake=world.intake, schedule=False)
        make_placement(a, supervisor=supervisor)
        flag(a, "placement_gap", RiskRating.AMBER, "A gap", stand=False)
    stand_all()


@pytest.mark.parametrize("query", ["", "sort=name", "sort=name&order=desc", "sort=progress&order=desc",
                                   "order=desc", "sort=organisation&rating=amber"])
def test_pages_follow_one_another_without_overlap_or_gap_however_rows_tie(client, world, query):
    tied_apprentices(world, 120)
    sign_in(client, world.admin)
    path = review_path(world, query)
    everyone = record_ids(client.get(review_path(world, query) + ("&" if query else "?") + "page=1"))
    pages = follow(client, path, NEXT_LINK)
    in_order = [record for page in pages for record in page]
    assert len(in_order) == len(set(in_order))  # no overlap
    exported = client.get(review_path(world).replace("/review", "/review.csv") + (f"?{query}" if query else ""))
    assert len(in_order) == len(list(csv.reader(io.StringIO(exported.get_data(as_text=True))))) - 7  # no gap
    assert in_order[:len(everyone)] == everyone and all(len(page) == 50 for page in pages[:-1])
    # Back again with the "Previous" links, from the last page: the same pages.
    last = client.get(path)
    for _ in range(len(pages) - 1):
        last = client.get(NEXT_LINK.search(html_of(last)).group(1).replace("&amp;", "&"))
    back = follow(client, PREVIOUS_LINK.search(html_of(last)).group(1).replace("&amp;", "&"), PREVIOUS_LINK)
    assert back == pages[-2::-1]


def test_a_row_added_while_paging_neither_repeats_nor_skips_a_row(client, world):
    tied_apprentices(world, 120)
    sign_in(client, world.admin)
    before = [record for page in follow(client, review_path(world), NEXT_LINK) for record in page]

    def add_one_before_the_cursor(pages_seen: int):
        if pages_seen == 1:  # sorts first (red, "Aaron"): an offset would now repeat the last row of page 1
            early = make_apprenticeship(make_apprentice("aaron@example.org", name="Aaron Early"),
                                        standard_version=world.version, intake=world.intake, schedule=False)
            flag(early, "otj_behind", RiskRating.RED, "Behind")

    during = [record for page in follow(client, review_path(world), NEXT_LINK, between=add_one_before_the_cursor)
              for record in page]
    assert during == before


def test_a_cursor_that_is_not_one_of_ours_shows_the_first_page(client, world):
    sign_in(client, world.admin)
    first = names(client.get(review_path(world)))
    for cursor in ("nonsense", "W10", "WyJhIiwxXQ", "x" * 2000, "eyJhIjoxfQ"):
        assert names(client.get(review_path(world, f"after={cursor}&page=2"))) == first, cursor
        assert names(client.get(review_path(world, f"before={cursor}&page=2"))) == first, cursor


# Exports and HTTP caching --------------------------------------------------------------------------------------


def test_exports_carry_an_etag_and_answer_not_modified_until_a_row_changes(client, world):
    sign_in(client, world.admin)
    path = review_path(world).replace("/review", "/review.csv") + "?rating=red"
    first = client.get(path)
    tag = first.headers["ETag"]
    # Kept by the browser but revalidated each time, never by a shared cache.
    assert first.status_code == 200 and tag and first.headers["Cache-Control"] == "private, no-cache"
    again = client.get(path, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.get_data() == b"" and again.headers["ETag"] == tag
    # Other filters, another format, another viewer's scope: other tags.
    assert client.get(path.replace("red", "amber")).headers["ETag"] != tag
    assert client.get(path.replace(".csv", ".xlsx")).headers["ETag"] != tag
    other = client.application.test_client()
    sign_in(other, world.coordinator)
    assert other.get(path, headers={"If-None-Match": tag}).status_code == 200
    # A change to any row: the export is made again.
    make_otj(world.amal, minutes=60, status=OtjStatus.APPROVED)
    review_rows.refresh_for([world.amal.id])
    db.session.commit()
    changed = client.get(path, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag
    # A course run's export changes with every lesson opened: no tag.
    run = make_run(make_course(), name="Autumn")
    enrol(make_learner(), run)
    assert "ETag" not in client.get(f"/runs/{run.id}/review.csv").headers


def test_the_placements_page_is_revalidated_with_its_etag(client, world):
    sign_in(client, world.admin)
    path = f"/intakes/{world.intake.id}/review/placements?sort=name"
    first = client.get(path)
    assert first.status_code == 200 and 'id="placements-timeline"' in html_of(first)
    assert first.headers["Cache-Control"] == "private, no-cache"
    assert client.get(path, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert client.get(path + "&page=2", headers={"If-None-Match": first.headers["ETag"]}).status_code == 200


def test_the_number_of_sql_statements_does_not_grow_with_the_rows(client, world):
    sign_in(client, world.admin)
    paths = [review_path(world), review_path(world, "sort=progress"), review_path(world, "flag=otj_behind&sort=name"),
             review_path(world, "page=2"), f"/intakes/{world.intake.id}/review/placements",
             "/cohort-review/apprentices"]
    few = [count_statements(client, path) for path in paths]
    many_apprentices(world.intake, world.version, 60)
    assert [count_statements(client, path) for path in paths] == few

    run = make_run(make_course(), name="Autumn")
    for n in range(3):
        record_progress(enrol(make_learner(), run), lessons=n)
    run_few = count_statements(client, f"/runs/{run.id}/review")
    for n in range(57):
        enrolment = enrol(make_learner(), run)
        record_progress(enrolment, lessons=n % 4, scores=(90,) if n % 5 == 0 else ())
        if n % 4 == 0:
            flag(enrolment=enrolment, code="not_started", rating=RiskRating.AMBER, reason="Not started")
    assert count_statements(client, f"/runs/{run.id}/review") == run_few


# Exports -----------------------------------------------------------------------------------------------------


def test_exports_match_the_screen_cell_for_cell_for_a_filtered_view(client, world):
    many_apprentices(world.intake, world.version, 60)
    sign_in(client, world.coordinator)
    query = "rating=red&sort=progress&order=desc"
    screen = []
    page = 1
    while True:
        table = review_table(client.get(review_path(world, f"{query}&page={page}")))
        screen.extend(table.rows)
        if len(table.rows) < 50:
            break
        page += 1
    assert screen, "the filtered view has rows"
    keys = [key for key, _sort in table.headers]

    response = client.get(review_path(world) + f".csv?{query}")
    assert response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert f'filename="intake-september-2025-review-{clock.today().isoformat()}.csv"' in disposition
    lines = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert lines[0] == ["Pathways cohort review", "Intake September 2025"]
    assert lines[1][0] == "Flags and progress as at" and datetime.fromisoformat(lines[1][1])
    assert lines[3] == ["Filters", "Rating: Red"]
    assert lines[4] == ["Sort", "Sorted by progress (% of expected), descending"]
    header, body = lines[6], lines[7:]
    assert header == [c.heading for c in reviewing.columns_for(reviewing.Review("intake"))]
    assert body == [[row[key] for key in keys] for row in screen]

    response = client.get(review_path(world) + f".xlsx?{query}")
    assert response.headers["Content-Disposition"].endswith('.xlsx"')
    book = load_workbook(io.BytesIO(response.get_data()))
    sheet = book["Review"]
    assert book.properties.subject == "Rating: Red"
    assert book.properties.description.startswith("Flags and progress as at ")
    assert isinstance(sheet["B2"].value, datetime)
    cells = list(sheet.iter_rows(min_row=cohort_exports.XLSX_HEADER_ROW + 1, values_only=True))
    assert [list(r) for r in sheet.iter_rows(min_row=7, max_row=7, values_only=True)][0] == header
    assert len(cells) == len(screen)
    columns = {c.key: c for c in reviewing.columns_for(reviewing.Review("intake"))}
    for shown, exported in zip(screen, cells, strict=True):
        for key, value in zip(keys, exported, strict=True):
            kind = columns[key].type
            if kind == "number":
                assert isinstance(value, int | float) and value == float(shown[key]), key
            elif kind == "date":
                assert isinstance(value, datetime) and value.date() == date.fromisoformat(shown[key]), key
            else:
                assert (value or "") == shown[key], key
    date_column = keys.index("ends_on") + 1
    assert sheet.cell(cohort_exports.XLSX_HEADER_ROW + 1, date_column).number_format == "yyyy-mm-dd"


def test_a_formula_in_a_name_is_exported_as_text(client, world):
    a = make_apprenticeship(make_apprentice("eq@example.org", name="=HYPERLINK(1)"), standard_version=world.version,
                            intake=world.intake, schedule=False)
    sign_in(client, world.admin)
    text = client.get(review_path(world) + ".csv?q=eq%40").get_data(as_text=True)
    assert "'=HYPERLINK(1)" in text and a.id


# Refreshing the flags ---------------------------------------------------------------------------------------------


def test_refresh_works_out_the_flags_of_this_pages_scope_and_keeps_the_filters(client, world):
    # Stale flags: one on Amal (in scope, now wrong) and one on Cy (out of the coordinator's scope).
    old = utcnow() - timedelta(days=3)
    db.session.query(RiskFlag).delete()
    db.session.commit()
    flag(world.amal, "review_overdue", RiskRating.RED, "Old reason", found_at=old)
    flag(world.cy, "review_overdue", RiskRating.RED, "Lambeth's own", found_at=old)
    sign_in(client, world.coordinator)
    query = "flag=placement_gap&sort=name&q=a&page=1"
    response = post_form(client, f"/intakes/{world.intake.id}/review/refresh", {
        "flag": "placement_gap", "sort": "name", "q": "a"}, token_from=review_path(world, query))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/intakes/{world.intake.id}/review?flag=placement_gap&q=a&sort=name"
    db.session.expire_all()
    found = {(f.apprenticeship_id, f.code) for f in db.session.scalars(select(RiskFlag))}
    assert (world.amal.id, "review_overdue") not in found
    assert (world.cy.id, "review_overdue") in found  # not this coordinator's to refresh
    followed = client.get(response.headers["Location"])
    assert "The flags have been worked out again" in text_of(followed)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "risk.refreshed")) is not None


def test_refresh_finds_real_flags_end_to_end(client, world):
    db.session.query(RiskFlag).delete()
    db.session.commit()
    lonely = make_apprenticeship(make_apprentice("lone@example.org", name="Lone Hackney"),
                                 standard_version=world.version, intake=world.intake, schedule=False)
    sign_in(client, world.coordinator)
    response = post_form(client, f"/intakes/{world.intake.id}/review/refresh", {}, token_from=review_path(world))
    assert response.status_code == 302
    table = review_table(client.get(review_path(world, "flag=no_placement")))
    assert [row["name"] for row in table.rows] == ["Lone Hackney"]
    assert table.rows[0]["rating"] == "Red"
    assert "No placement (red): No placement in force today" in table.rows[0]["flags"]
    assert lonely.id
    text = text_of(client.get(review_path(world)))
    assert "Ratings, flags and off-the-job progress as at" in text


def test_refresh_needs_the_forms_token(client, world):
    sign_in(client, world.coordinator)
    assert client.post(f"/intakes/{world.intake.id}/review/refresh", data={}).status_code == 400


# The course run review -----------------------------------------------------------------------------------------


@pytest.fixture
def run_world():
    course = make_course(lessons=3, checks=1)
    run = make_run(course, name="Spring", starts_in=1, days=40)
    hackney = [make_learner(name=f"Hackney learner {n}") for n in range(3)]
    lambeth = make_learner(name="Lambeth learner", organisation_code=LAMBETH)
    enrolments = [enrol(person, run) for person in [*hackney, lambeth]]
    run.starts_on = clock.today() - timedelta(days=20)  # the run has been going for nearly three weeks
    record_progress(enrolments[0], lessons=3, scores=(100,))
    record_progress(enrolments[1], lessons=1)
    enrolments[0].status, enrolments[0].completed_at = EnrolmentStatus.COMPLETED, utcnow() - timedelta(days=3)
    db.session.commit()
    return run, enrolments


def test_the_run_review_shows_progress_flags_and_links_to_the_roster(client, run_world):
    run, enrolments = run_world
    flag(enrolment=enrolments[2], code="not_started", rating=RiskRating.AMBER, reason="Enrolled 20 days ago")
    sign_in(client, make_coordinator("hc@example.org", scope=(HACKNEY,)))
    response = client.get(f"/runs/{run.id}/review?sort=name")
    table = review_table(response)
    assert [row["name"] for row in table.rows] == ["Hackney learner 0", "Hackney learner 1", "Hackney learner 2"]
    progress = [row["progress"] for row in table.rows]
    assert progress == ["100", "25", "0"]  # lessons opened and checks passed of 4 items
    assert table.rows[0]["status"] == "Completed" and table.rows[0]["completed_on"]
    assert table.rows[2]["flags"] == "Course not started (amber): Enrolled 20 days ago"
    assert table.rows[2]["rating"] == "Amber"
    person = enrolments[0].person
    assert f"/runs/{run.id}?q={quote(person.email, safe='')}#enrolment-{enrolments[0].id}" in table.links
    assert names(client.get(f"/runs/{run.id}/review?flag=not_started")) == ["Hackney learner 2"]
    assert names(client.get(f"/runs/{run.id}/review?status=completed")) == ["Hackney learner 0"]
    assert names(client.get(f"/runs/{run.id}/review?sort=progress&order=desc"))[0] == "Hackney learner 0"
    # The export of a filtered view matches the screen, dates included.
    shown = review_table(client.get(f"/runs/{run.id}/review?status=completed"))
    lines = list(csv.reader(io.StringIO(client.get(f"/runs/{run.id}/review.csv?status=completed")
                                        .get_data(as_text=True))))
    assert lines[3] == ["Filters", "Status: Completed"]
    assert lines[7:] == [[row[key] for key, _sort in shown.headers] for row in shown.rows]
    assert date.fromisoformat(lines[7][3]) and date.fromisoformat(lines[7][4])  # enrolled and completed on
    # Completions over time, with its table.
    html = html_of(response)
    assert 'id="completions-chart"' in html and "Completions over time" in html
    assert "1 person completed, of 3 enrolled or completed" in html


def test_the_run_review_refresh_finds_learners_who_have_not_started(client, run_world):
    run, enrolments = run_world
    for enrolment in enrolments:
        enrolment.enrolled_at = utcnow() - timedelta(days=30)
    db.session.commit()
    sign_in(client, make_coordinator("hc@example.org", scope=(HACKNEY,)))
    response = post_form(client, f"/runs/{run.id}/review/refresh", {"rating": "amber"},
                         token_from=f"/runs/{run.id}/review")
    assert response.headers["Location"] == f"/runs/{run.id}/review?rating=amber"
    assert "Hackney learner 2" in names(client.get(f"/runs/{run.id}/review?flag=not_started"))
    # The Lambeth learner is out of scope: not refreshed.
    lambeth = enrolments[3]
    assert db.session.scalar(select(RiskFlag).where(RiskFlag.enrolment_id == lambeth.id)) is None
    csv_text = client.get(f"/runs/{run.id}/review.csv?flag=not_started").get_data(as_text=True)
    assert "Hackney learner 2" in csv_text and "Lambeth" not in csv_text


# Pictures and links ------------------------------------------------------------------------------------------------


def test_the_intake_review_draws_the_spread_of_progress_and_links_to_the_placements_of_its_page(client, world):
    sign_in(client, world.admin)
    review = html_of(client.get(review_path(world, "sort=name&rating=red")))
    assert 'aria-labelledby="progress-spread-title progress-spread-desc"' in review
    assert 'id="progress-spread-figures"' in review  # the table behind the picture, in a details element
    assert "placements-timeline" not in review  # a page of its own, for the same apprentices
    link = re.search(r'<a class="govuk-link" href="([^"]+)" id="placements-link">', review).group(1)
    assert link == f"/intakes/{world.intake.id}/review/placements?rating=red&amp;sort=name"
    only_amal = html_of(client.get(link.replace("&amp;", "&")))
    assert "<desc id=\"placements-timeline-desc\">Placements of 1 apprentice" in only_amal
    assert "Back to the review" in only_amal and "Rating: Red" in only_amal

    html = html_of(client.get(f"/intakes/{world.intake.id}/review/placements"))
    chart_id = "placements-timeline"
    assert f'aria-labelledby="{chart_id}-title {chart_id}-desc"' in html
    assert f'id="{chart_id}-figures"' in html
    assert 'role="img"' in html and "<desc id=\"placements-timeline-desc\">Placements of 3 apprentices" in html
    assert html.count('data-segment="gap"') >= 1  # Amal's 20 days between placements
    # The figures: a row an apprentice, their placements and the gap between in date order.
    figures = html[html.index('id="placements-timeline-figures"'):]
    amal = figures[figures.index('<th scope="row" class="govuk-table__header">Amal Hackney</th>'):]
    amal = amal[:amal.index("</tr>")]
    assert [item.split(":")[0] for item in re.findall(r"<li>([^<]*)</li>", amal)][:3] == [
        "London Borough of Hackney", "No placement", "London Borough of Tower Hamlets"]
    assert "(20 days)</li>" in amal
    assert '<text x="182" y="43" text-anchor="end" fill="#0b0c0c">Amal Hackney</text>' in html
    assert ">Today</text>" in html
    assert "No placement" in html and "Tower Hamlets" in html


def test_the_intake_and_run_pages_link_to_their_reviews(client, world, run_world):
    run, _ = run_world
    sign_in(client, world.admin)
    assert f'href="/intakes/{world.intake.id}/review"' in html_of(client.get(f"/intakes/{world.intake.id}"))
    assert f'href="/runs/{run.id}/review"' in html_of(client.get(f"/runs/{run.id}"))


def test_progress_bands():
    assert reviewing.progress_bands([0, 74, 75, 89, 90, 99, 100, 250]) == [
        ("Under 75%", 2), ("75% to 89%", 2), ("90% to 99%", 2), ("100% or more", 2)]


def test_the_timeline_shows_gaps_and_colours_hosts():
    today = date(2026, 11, 23)
    lanes = [cohort_charts.ApprenticeLane("Ada", date(2026, 1, 1), date(2026, 12, 31), [
        cohort_charts.PlacementSpan(date(2026, 1, 1), date(2026, 3, 31), 1, "London Borough of Hackney"),
        cohort_charts.PlacementSpan(date(2026, 5, 1), date(2026, 12, 31), 2, "London Borough of Lambeth")])]
    chart = cohort_charts.placements_timeline(lanes, today)
    bars = chart.lanes[0].bars
    assert [bar.gap for bar in bars] == [False, True, False]
    assert bars[0].fill != bars[2].fill and bars[0].label == "Hackney"
    assert chart.table_rows == [("Ada", ["London Borough of Hackney: 1 January 2026 to 31 March 2026 (90 days)",
                                         "No placement: 1 April 2026 to 30 April 2026 (30 days)",
                                         "London Borough of Lambeth: 1 May 2026 to 31 December 2026 (245 days)"])]
    assert chart.today_x is not None and "1 gap with no placement" in chart.description
    assert cohort_charts.placements_timeline([], today) is None


def test_completions_are_cumulative_by_week():
    chart = cohort_charts.completions_chart([date(2026, 11, 3), date(2026, 11, 4), date(2026, 11, 18)],
                                            starts_on=date(2026, 11, 2), ends_on=None, today=date(2026, 11, 23),
                                            taking=5)
    assert [row[2] for row in chart.table_rows] == ["2", "2", "3", "3"]
    assert chart.table_rows[0][0] == "2 November 2026"
    assert cohort_charts.completions_chart([], starts_on=date(2027, 1, 1), ends_on=None, today=date(2026, 11, 23),
                                           taking=0) is None
