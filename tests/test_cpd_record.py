"""A leader's CPD record: the courses they completed with the day and the CPD hours of each, year by year
(calendar years, London time) with totals, as CSV (safe to open in a spreadsheet) and as PDF; only ever their
own."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from datetime import datetime, time
from decimal import Decimal

import pytest

from app.extensions import db
from app.models import EnrolmentStatus, Role, RunKind
from app.services import clock
from tests.certificate_factories import pdf_text
from tests.conftest import make_person, sign_in
from tests.course_factories import enrol, make_learning_course, make_run

YEAR = clock.today().year
LAST_YEAR = YEAR - 1


def leader(email="lee@example.org", name="Lee Leader"):
    return make_person(email, name=name, roles=(Role.LEARNER,))


def completed(person, slug: str, when: datetime, hours: str, *, title: str | None = None, run_name="Anytime"):
    course = make_learning_course(slug, cpd_hours=hours)
    if title:
        course.title = title
    enrolment = enrol(person, make_run(course, kind=RunKind.SELF_PACED, name=run_name))
    enrolment.status = EnrolmentStatus.COMPLETED
    enrolment.completed_at = when
    enrolment.cpd_hours_credited = Decimal(hours)
    db.session.commit()
    return enrolment


def at(year, month, day, hour=12, minute=0) -> datetime:
    """A London wall-clock time."""
    return datetime.combine(datetime(year, month, day).date(), time(hour, minute), tzinfo=clock.LONDON)


@pytest.fixture
def record_holder():
    """A leader with courses completed either side of new year (31 December 23:59 and 1 January 00:01, London
    time), one earlier in the previous year, and one under way."""
    person = leader()
    completed(person, "data-basics", at(LAST_YEAR, 3, 4), "2")
    completed(person, "buying-well", at(LAST_YEAR, 12, 31, 23, 59), "2.5")
    completed(person, "leading-change", at(YEAR, 1, 1, 0, 1), "3.5", run_name="January cohort")
    enrol(person, make_run(make_learning_course("under-way"), kind=RunKind.SELF_PACED))
    return person


def rows_of(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_the_csv_of_a_year_lists_that_years_courses_and_their_total(client, record_holder):
    sign_in(client, record_holder)
    response = client.get(f"/learning/cpd-record.csv?year={YEAR}")
    assert response.headers["Content-Disposition"] == f'attachment; filename="pathways-cpd-record-{YEAR}.csv"'
    assert rows_of(response) == [
        ["Pathways CPD record", "Lee Leader"],
        ["Organisation", "London Borough of Hackney"],
        ["Period", f"{YEAR} (calendar year, 1 January to 31 December {YEAR})"],
        ["Made on", clock.today().isoformat()],
        [],
        ["Year", "Course", "Run", "Completed on", "CPD hours"],
        [str(YEAR), "Leading change", "January cohort", f"{YEAR}-01-01", "3.5"],
        [str(YEAR), f"Total for {YEAR}", "", "", "3.5"],
    ]


def test_a_course_completed_on_31_december_counts_for_that_year(client, record_holder):
    sign_in(client, record_holder)
    rows = rows_of(client.get(f"/learning/cpd-record.csv?year={LAST_YEAR}"))
    assert rows[6:] == [
        [str(LAST_YEAR), "Data basics", "Anytime", f"{LAST_YEAR}-03-04", "2"],
        [str(LAST_YEAR), "Buying well", "Anytime", f"{LAST_YEAR}-12-31", "2.5"],
        [str(LAST_YEAR), f"Total for {LAST_YEAR}", "", "", "4.5"],
    ]


def test_the_csv_of_all_years_totals_each_year_and_all(client, record_holder):
    sign_in(client, record_holder)
    response = client.get("/learning/cpd-record.csv")
    assert response.headers["Content-Disposition"] == 'attachment; filename="pathways-cpd-record-all-years.csv"'
    rows = rows_of(response)
    assert rows[2] == ["Period", "All years"]
    assert rows[6:] == [
        [str(LAST_YEAR), "Data basics", "Anytime", f"{LAST_YEAR}-03-04", "2"],
        [str(LAST_YEAR), "Buying well", "Anytime", f"{LAST_YEAR}-12-31", "2.5"],
        [str(LAST_YEAR), f"Total for {LAST_YEAR}", "", "", "4.5"],
        [str(YEAR), "Leading change", "January cohort", f"{YEAR}-01-01", "3.5"],
        [str(YEAR), f"Total for {YEAR}", "", "", "3.5"],
        ["All years", "Total", "", "", "8"],
    ]


def test_a_year_without_courses_gives_an_empty_record_with_a_zero_total(client, record_holder):
    sign_in(client, record_holder)
    rows = rows_of(client.get(f"/learning/cpd-record.csv?year={YEAR - 5}"))
    assert rows[6:] == [[str(YEAR - 5), f"Total for {YEAR - 5}", "", "", "0"]]


def test_the_csv_cannot_carry_a_formula(client):
    person = make_person("formula@example.org", name="=HYPERLINK(\"http://evil.example\")", roles=(Role.LEARNER,))
    completed(person, "formula", at(YEAR, 2, 3), "1", title="@SUM(A1:A9)", run_name="+cmd|' /C calc'!A0")
    completed(person, "minus", at(YEAR, 2, 4), "1", title="-2+3")
    sign_in(client, person)
    rows = rows_of(client.get(f"/learning/cpd-record.csv?year={YEAR}"))
    assert rows[0] == ["Pathways CPD record", "'=HYPERLINK(\"http://evil.example\")"]
    assert rows[6][1:3] == ["'@SUM(A1:A9)", "'+cmd|' /C calc'!A0"]
    assert rows[7][1] == "'-2+3"


def test_someone_else_only_ever_gets_their_own_record(client, new_client, record_holder):
    other = leader("other@example.org", name="Olu Other")
    completed(other, "others-course", at(YEAR, 5, 6), "6", title="Other's course")
    browser = new_client()
    sign_in(browser, other)
    for path in ("/learning/cpd-record.csv", f"/learning/cpd-record.csv?year={YEAR}",
                 f"/learning/cpd-record.csv?person_id={record_holder.id}",
                 f"/learning/cpd-record.csv?person={record_holder.email}&year={YEAR}"):
        rows = rows_of(browser.get(path))
        assert rows[0] == ["Pathways CPD record", "Olu Other"]
        courses = [row[1] for row in rows[6:]]
        assert "Other's course" in courses
        assert not {"Data basics", "Buying well", "Leading change"} & set(courses), path
    pdf = browser.get(f"/learning/cpd-record.pdf?person_id={record_holder.id}")
    assert pdf.status_code == 200 and b"Lee Leader" not in pdf.data


def test_the_record_needs_signing_in_and_a_real_year(client, record_holder):
    for path in ("/learning/cpd-record.csv", "/learning/cpd-record.pdf"):
        assert "/sign-in" in client.get(path).headers["Location"]
    sign_in(client, record_holder)
    for year in ("twenty", "26", "1999", "3000", "２０２６", "-2026", ""):
        assert client.get(f"/learning/cpd-record.csv?year={year}").status_code == 404, year
    assert client.get("/learning/cpd-record.xlsx").status_code == 404


needs_poppler = pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils reads the PDF back")


@needs_poppler
def test_the_pdf_of_all_years_says_who_what_when_and_the_totals(client, record_holder):
    sign_in(client, record_holder)
    response = client.get("/learning/cpd-record.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == 'attachment; filename="pathways-cpd-record-all-years.pdf"'
    text = pdf_text(response.data)
    assert "Pathways — London's digital skills programme" in text and "CPD record" in text
    assert "Name Lee Leader" in text and "Organisation London Borough of Hackney" in text
    assert "Period All years" in text
    assert f"Made on {clock.today():%-d %B %Y}" in text
    assert "calendar years, 1 January to 31 December" in text
    assert (f"{LAST_YEAR} Course Run Completed on CPD hours Data basics Anytime 4 March {LAST_YEAR} 2 "
            f"Buying well Anytime 31 December {LAST_YEAR} 2.5 Total for {LAST_YEAR} 4.5") in text
    assert (f"{YEAR} Course Run Completed on CPD hours Leading change January cohort 1 January {YEAR} 3.5 "
            f"Total for {YEAR} 3.5") in text
    assert "Total of all years: 8 CPD hours" in text
    assert "Under way" not in text


@needs_poppler
def test_the_pdf_of_a_year_has_only_that_year(client, record_holder):
    sign_in(client, record_holder)
    response = client.get(f"/learning/cpd-record.pdf?year={LAST_YEAR}")
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="pathways-cpd-record-{LAST_YEAR}.pdf"')
    text = pdf_text(response.data)
    assert f"Period {LAST_YEAR} (calendar year, 1 January to 31 December {LAST_YEAR})" in text
    assert f"Buying well Anytime 31 December {LAST_YEAR} 2.5 Total for {LAST_YEAR} 4.5" in text
    assert "Leading change" not in text and "Total of all years" not in text
    info = subprocess.run(["pdfinfo", "-"], input=response.data, capture_output=True, check=True).stdout.decode()
    assert f"Title:           CPD record of Lee Leader: {LAST_YEAR}" in info
    assert "Author:          Pathways" in info and "Page size:       595.276 x 841.89 pts (A4)" in info
