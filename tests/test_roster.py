"""A run's roster: who each viewer may see, progress and scores, filters, pages, the CSV export, and a
fixed number of queries however many people are on the run."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import event

from app.extensions import db
from app.models import EnrolmentStatus, Role
from app.services import learning
from tests.conftest import make_person, sign_in
from tests.course_factories import enrol, make_course, make_learner, make_run, record_progress
from tests.pages import html_of, text_of

HACKNEY, CAMDEN, ISLINGTON = "E09000012", "E09000007", "E09000019"
HEADER = ["Name", "Email", "Organisation", "Status", "Progress (%)", "Last activity", "Best check score (%)"]


def screen_rows(response) -> list[list[str]]:
    """The roster table's rows as the CSV would have them: the time cell read from its datetime."""
    rows = []
    for row in re.findall(r'<tr class="govuk-table__row" id="enrolment-\d+">(.*?)</tr>', html_of(response), re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[:7]
        values = [" ".join(unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in cells]
        when = re.search(r'<time datetime="([^"]+)"', cells[5])
        values[5] = when.group(1) if when else ""
        rows.append(values)
    return rows


def screen_header(response) -> list[str]:
    table = re.search(r'<table class="govuk-table" id="roster">.*?</thead>', html_of(response), re.S).group(0)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", h)).split())
            for h in re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)][:7]


def csv_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def counts(response) -> dict[str, str]:
    return dict(re.findall(r'data-count="([a-z-]+)">([^<]*)<', html_of(response)))


@pytest.fixture
def course():
    return make_course(lessons=4, checks=1)


@pytest.fixture
def hackney_coordinator():
    return make_person("cora@example.org", name="Cora Coordinator", roles=(Role.COORDINATOR,), scope=(HACKNEY,))


@pytest.fixture
def roster(course):
    """A run with five places: people from Hackney and Camden at every stage."""
    run = make_run(course, capacity=5)
    people = {
        "ann": make_learner("ann@example.org", name="Ann Archer"),
        "bob": make_learner("bob@example.org", name="Bob Baker", organisation_code=CAMDEN),
        "cat": make_learner("cat@example.org", name="Cat Cole"),
        "dan": make_learner("dan@example.org", name="Dan Dale", organisation_code=CAMDEN),
        "eve": make_learner("eve@example.org", name="Eve Evans"),
        "fay": make_learner("fay@example.org", name="Fay Fox"),
        "gus": make_learner("gus@example.org", name="Gus Green", organisation_code=CAMDEN),
    }
    enrolments = {key: enrol(person, run) for key, person in people.items()}
    record_progress(enrolments["ann"], lessons=2, scores=(60, 90))
    record_progress(enrolments["cat"], lessons=1)
    enrolments["eve"].status = EnrolmentStatus.COMPLETED
    record_progress(enrolments["eve"], lessons=4, scores=(100,))
    enrolments["bob"].status = EnrolmentStatus.WITHDRAWN
    db.session.commit()
    return run, enrolments


def test_a_coordinator_sees_only_people_of_their_organisations(client, hackney_coordinator, roster):
    run, enrolments = roster
    sign_in(client, hackney_coordinator)

    page = client.get(f"/runs/{run.id}")

    assert page.status_code == 200
    assert screen_header(page) == HEADER
    names = [row[0] for row in screen_rows(page)]
    assert names == ["Ann Archer", "Cat Cole", "Eve Evans", "Fay Fox"]
    assert "Bob Baker" not in text_of(page) and "London Borough of Camden" not in text_of(page)
    assert "People on this run from your organisations" in text_of(page)
    # Counts cover the coordinator's organisations; places left are the run's.
    assert counts(page) == {"enrolled": "2", "waitlisted": "1", "completed": "1", "withdrawn": "0",
                            "places-left": "1"}
    assert f'href="/people/{enrolments["ann"].person_id}"' in html_of(page)


def test_an_admin_sees_everyone_with_progress_and_best_score(client, signed_in_admin, roster):
    run, enrolments = roster

    page = client.get(f"/runs/{run.id}")

    rows = {row[0]: row for row in screen_rows(page)}
    assert list(rows) == ["Ann Archer", "Bob Baker", "Cat Cole", "Dan Dale", "Eve Evans", "Fay Fox", "Gus Green"]
    assert counts(page) == {"enrolled": "3", "waitlisted": "2", "completed": "1", "withdrawn": "1",
                            "places-left": "1"}
    # 5 items in the outline: 4 lessons and a check after the first.
    assert rows["Ann Archer"][1:5] == ["ann@example.org", "London Borough of Hackney", "Enrolled", "60"]
    assert rows["Ann Archer"][6] == "90"
    assert rows["Cat Cole"][4:] == ["20", rows["Cat Cole"][5], ""]
    assert rows["Eve Evans"][3:5] == ["Completed", "100"]
    assert rows["Fay Fox"][3:] == ["On the waitlist", "0", "", ""]
    assert rows["Bob Baker"][3] == "Withdrawn"
    # The figures are those of the learning service.
    db.session.expire_all()
    for enrolment in enrolments.values():
        progress = learning.progress(enrolment)
        row = rows[enrolment.person.name]
        assert int(row[4]) == progress.percent
        assert row[6] == ("" if progress.best_check_score is None else str(progress.best_check_score))
    last = datetime.fromisoformat(rows["Ann Archer"][5])
    assert abs(last - datetime.now(UTC)) < timedelta(minutes=5)


def test_retired_lessons_do_not_count(client, signed_in_admin, roster, course):
    run, enrolments = roster
    course.lessons[3].retired_at = datetime.now(UTC)
    db.session.commit()
    rows = {row[0]: row for row in screen_rows(client.get(f"/runs/{run.id}"))}
    assert rows["Ann Archer"][4] == "75" == str(learning.progress(enrolments["ann"]).percent)


@pytest.mark.parametrize(("query", "names"), [
    ("status=enrolled", ["Ann Archer", "Cat Cole", "Dan Dale"]),
    ("status=waitlisted", ["Fay Fox", "Gus Green"]),
    ("status=withdrawn", ["Bob Baker"]),
    ("status=nonsense", ["Ann Archer", "Bob Baker", "Cat Cole", "Dan Dale", "Eve Evans", "Fay Fox", "Gus Green"]),
    ("organisation={camden}", ["Bob Baker", "Dan Dale", "Gus Green"]),
    ("organisation={camden}&status=enrolled", ["Dan Dale"]),
    ("q=EVANS", ["Eve Evans"]),
    ("q=fay@example", ["Fay Fox"]),
    ("q=%25", []),
])
def test_filters_narrow_the_roster(client, signed_in_admin, roster, query, names):
    from tests.conftest import organisation

    run, _ = roster
    page = client.get(f"/runs/{run.id}?" + query.format(camden=organisation(CAMDEN).id))
    assert [row[0] for row in screen_rows(page)] == names
    if not names:
        assert "Nobody matches these filters." in text_of(page)


def test_a_coordinator_cannot_filter_their_way_to_other_organisations(client, hackney_coordinator, roster):
    from tests.conftest import organisation

    run, _ = roster
    sign_in(client, hackney_coordinator)
    page = client.get(f"/runs/{run.id}?organisation={organisation(CAMDEN).id}")
    assert screen_rows(page) == []
    assert csv_of(client.get(f"/runs/{run.id}/roster.csv?organisation={organisation(CAMDEN).id}"))[1:] == []
    assert csv_of(client.get(f"/runs/{run.id}/roster.csv?q=bob"))[1:] == []


@pytest.mark.parametrize("query", ["", "status=enrolled", "q=a", "organisation={hackney}&status=waitlisted"])
def test_the_csv_export_matches_the_screen_cell_for_cell(client, signed_in_admin, roster, query):
    from tests.conftest import organisation

    run, _ = roster
    query = query.format(hackney=organisation(HACKNEY).id)
    page = client.get(f"/runs/{run.id}?{query}")
    assert f'href="/runs/{run.id}/roster.csv?' in html_of(page)

    response = client.get(f"/runs/{run.id}/roster.csv?{query}")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert re.fullmatch(r'attachment; filename="leading-digital-change-spring-roster-\d{4}-\d{2}-\d{2}\.csv"',
                        response.headers["Content-Disposition"])
    header, *rows = csv_of(response)
    assert header == [*HEADER, "As at"]
    assert [row[:7] for row in rows] == screen_rows(page)
    assert len({row[7] for row in rows}) <= 1
    for row in rows:
        assert abs(datetime.fromisoformat(row[7]) - datetime.now(UTC)) < timedelta(minutes=5)


def test_the_csv_link_carries_the_filters(client, signed_in_admin, roster):
    run, _ = roster
    page = client.get(f"/runs/{run.id}?status=enrolled&q=ann")
    link = unescape(re.search(r'href="(/runs/\d+/roster\.csv\?[^"]*)"', html_of(page)).group(1))
    assert "status=enrolled" in link and "q=ann" in link
    assert [row[0] for row in csv_of(client.get(link))[1:]] == ["Ann Archer"]


def test_spreadsheet_formulas_in_names_are_defused(client, signed_in_admin, course):
    run = make_run(course)
    enrol(make_learner("eq@example.org", name="=HYPERLINK(1)"), run)
    (row,) = csv_of(client.get(f"/runs/{run.id}/roster.csv"))[1:]
    assert row[0] == "'=HYPERLINK(1)"


def test_the_roster_is_paginated_fifty_to_a_page_and_the_export_has_everyone(client, signed_in_admin, course):
    run = make_run(course)
    for number in range(55):
        enrol(make_learner(f"p{number:02d}@example.org", name=f"Person {number:02d}"), run)

    first, second = client.get(f"/runs/{run.id}"), client.get(f"/runs/{run.id}?page=2")

    assert len(screen_rows(first)) == 50
    assert [row[0] for row in screen_rows(second)] == [f"Person {n}" for n in range(50, 55)]
    assert "Showing 51 to 55 of 55" in text_of(second)
    assert f'href="/runs/{run.id}?page=2' in html_of(first)
    assert [row[:7] for row in csv_of(client.get(f"/runs/{run.id}/roster.csv"))[1:]] == (
        screen_rows(first) + screen_rows(second))


def count_queries(client, path: str) -> int:
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


@pytest.mark.parametrize("export", [False, True])
def test_the_number_of_queries_does_not_grow_with_the_roster(client, signed_in_admin, course, export):
    small, large = make_run(course, name="Small"), make_run(course, name="Large")
    organisations = (HACKNEY, CAMDEN, ISLINGTON)
    for number in range(60):
        for run in ((small, large) if number < 5 else (large,)):
            person = make_learner(organisation_code=organisations[number % 3])
            enrolment = enrol(person, run)
            record_progress(enrolment, lessons=number % 4, scores=(number % 100,) if number % 2 else ())

    suffix = "/roster.csv" if export else ""
    small_count = count_queries(client, f"/runs/{small.id}{suffix}")
    assert small_count > 3
    assert small_count == count_queries(client, f"/runs/{large.id}{suffix}")
