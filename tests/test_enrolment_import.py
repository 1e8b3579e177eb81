"""Enrolling people on a run from a CSV file of email addresses: every row is checked and previewed
before anything is saved, then everyone is enrolled together, or nobody is."""

from __future__ import annotations

import io
import re
from html import unescape

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Enrolment, EnrolmentStatus, OutboundEmail, Role
from app.services import clock
from app.services.enrolment import not_found_message
from tests.conftest import make_person, post_form, sign_in
from tests.course_factories import enrol, make_course, make_learner, make_run
from tests.pages import html_of, page_title, text_of

HACKNEY, CAMDEN = "E09000012", "E09000007"


def row_problems(response) -> dict[int, list[str]]:
    problems = {}
    for line, row in re.findall(r'<tr class="govuk-table__row" id="line-(\d+)">(.*?)</tr>', html_of(response), re.S):
        problems[int(line)] = [" ".join(unescape(m).split()) for m in re.findall(r"<li>(.*?)</li>", row, re.S)]
    return problems


def row_tags(response) -> dict[int, str]:
    return {int(line): unescape(tag) for line, tag in re.findall(
        r'<tr class="govuk-table__row" id="line-(\d+)">.*?<strong class="govuk-tag[^"]*">(.*?)</strong>',
        html_of(response), re.S)}


def error_summary(response) -> list[str]:
    block = re.search(r'<div class="govuk-error-summary".*?</ul>', html_of(response), re.S)
    if not block:
        return []
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", item)).split())
            for item in re.findall(r"<li>(.*?)</li>", block.group(0), re.S)]


def hidden_content(response) -> str | None:
    field = re.search(r'<input[^>]*name="content"[^>]*>', html_of(response))
    if not field:
        return None
    return unescape(re.search(r'value="([^"]*)"', field.group(0)).group(1))


def upload(client, run, content: bytes | str, filename: str = "people.csv"):
    data = content.encode() if isinstance(content, str) else content
    return post_form(client, f"/runs/{run.id}/enrolments/import", {"file": (io.BytesIO(data), filename)})


def confirm(client, run, content: str):
    return post_form(client, f"/runs/{run.id}/enrolments/import/confirm", {"content": content},
                     token_from=f"/runs/{run.id}/enrolments/import")


def state() -> tuple:
    """Everything an import could change."""
    db.session.expire_all()
    enrolments = db.session.execute(select(Enrolment.person_id, Enrolment.status).order_by(Enrolment.id)).all()
    return (enrolments, db.session.scalar(select(func.count(AuditEvent.id))),
            db.session.scalar(select(func.count(OutboundEmail.id))))


@pytest.fixture
def run():
    return make_run(make_course(), capacity=3)


@pytest.fixture
def coordinator(client):
    person = make_person("cora@example.org", name="Cora Coordinator", roles=(Role.COORDINATOR,), scope=(HACKNEY,))
    sign_in(client, person)
    return person


def test_a_clean_file_is_previewed_then_everyone_is_enrolled_and_the_rest_waitlisted(client, coordinator, run):
    enrol(make_learner("already@example.org"), run)
    ann = make_learner("ann@example.org", name="Ann Archer")
    ben = make_learner("ben@example.org", name="Ben Brown")
    cy = make_learner("cy@example.org", name="Cy Chen")
    page = client.get(f"/runs/{run.id}/enrolments/import")
    assert page.status_code == 200
    assert "Enrol people from a CSV file" in text_of(page)
    before = state()

    preview = upload(client, run, "\ufeffEmail\r\nann@example.org\r\n\r\n BEN@example.org \r\ncy@example.org\r\n")

    assert preview.status_code == 200
    assert page_title(preview) == "Check the people to enrol – Pathways"
    assert row_problems(preview) == {2: [], 4: [], 5: []}
    assert row_tags(preview) == {2: "Ready", 4: "Ready", 5: "Run full: will go on the waitlist"}
    assert "2 people will be enrolled and 1 will go on the waitlist because the run will be full" in text_of(preview)
    assert "Ann Archer" in text_of(preview) and "London Borough of Hackney" in text_of(preview)
    assert error_summary(preview) == []
    assert state() == before

    response = confirm(client, run, hidden_content(preview))

    assert response.status_code == 302
    assert response.headers["Location"] == f"/runs/{run.id}"
    statuses = dict(db.session.execute(select(Enrolment.person_id, Enrolment.status)).all())
    assert (statuses[ann.id], statuses[ben.id], statuses[cy.id]) == (
        EnrolmentStatus.ENROLLED, EnrolmentStatus.ENROLLED, EnrolmentStatus.WAITLISTED)
    assert db.session.scalar(select(Enrolment.enrolled_by_id).where(Enrolment.person_id == ann.id)) == coordinator.id
    assert ("2 people have been enrolled and 1 has been put on the waitlist."
            in text_of(client.get(f"/runs/{run.id}")))


def test_every_problem_is_shown_against_its_line_and_nothing_is_saved(client, coordinator, run):
    enrol(make_learner("already@example.org", name="Al Ready"), run)
    make_learner("ok@example.org")
    make_learner("camden@example.org", organisation_code=CAMDEN)
    gone = make_learner("gone@example.org", name="Gone Person")
    gone.active = False
    db.session.commit()
    content = ("email\n"
               "ok@example.org\n"
               "nobody@example.org\n"
               "camden@example.org\n"
               "already@example.org\n"
               "OK@example.org\n"
               "not an email\n"
               "gone@example.org\n"
               "ok2@example.org,extra\n")
    before = state()

    preview = upload(client, run, content)

    assert preview.status_code == 200
    assert page_title(preview).startswith("Error: ")
    assert row_problems(preview) == {
        2: [],
        3: [not_found_message("nobody@example.org")],
        4: [not_found_message("camden@example.org")],
        5: ["Al Ready is already enrolled on this run"],
        6: ["ok@example.org is also on line 2"],
        7: ["Enter an email address in the correct format, like name@example.org"],
        8: ["Gone Person's account is deactivated"],
        9: ["This line has more than one value; it must hold only an email address"],
    }
    assert f"Line 3: {not_found_message('nobody@example.org')}" in error_summary(preview)
    assert "Nobody has been enrolled: fix the file and upload it again" in text_of(preview)
    assert hidden_content(preview) is None
    assert state() == before


@pytest.mark.parametrize(("content", "message"), [
    ("", "The file is empty. The first line must be the column name: email"),
    ("email\n", "The file has no email addresses in it, only the line with the column name"),
    ("address\nann@example.org\n", "Line 1: the file has no email column. The first line must be the column name: "
                                   "email"),
    ("email,name\nann@example.org,Ann\n", "Line 1: unexpected column name. The file must have one column: email"),
    ("email,email\nann@example.org,ann@example.org\n", "Line 1: the email column appears more than once"),
    (b"email\nann@example.org\nb\xe9n@example.org\n",
     "Line 3: the file is not UTF-8 text. Save it as 'CSV UTF-8' and try again"),
])
def test_problems_with_the_file_itself_are_explained(client, coordinator, run, content, message):
    make_learner("ann@example.org")
    before = state()
    response = upload(client, run, content)
    assert message in error_summary(response)
    assert hidden_content(response) is None
    assert state() == before


@pytest.mark.parametrize(("filename", "message"), [("people.txt", "The selected file must be a CSV")])
def test_only_csv_files_are_accepted(client, coordinator, run, filename, message):
    response = upload(client, run, "email\n", filename)
    assert message in error_summary(response)


def test_a_closed_run_takes_nobody(client, coordinator, run):
    from datetime import timedelta

    make_learner("ann@example.org")
    run.enrolment_deadline = clock.today() - timedelta(days=1)
    db.session.commit()
    response = upload(client, run, "email\nann@example.org\n")
    assert (f"Enrolment closed on {run.enrolment_deadline:%-d %B %Y}: nobody can be enrolled on it"
            in error_summary(response))
    assert state()[0] == []


def test_the_confirmation_checks_again_and_enrols_nobody_if_anything_changed(client, coordinator, run):
    make_learner("ann@example.org")
    ben = make_learner("ben@example.org", name="Ben Brown")
    preview = upload(client, run, "email\nann@example.org\nben@example.org\n")
    content = hidden_content(preview)
    # Ben is enrolled by someone else between the preview and the confirmation.
    enrol(ben, run)
    before = state()

    response = confirm(client, run, content)

    assert response.status_code == 400
    assert row_problems(response)[3] == ["Ben Brown is already enrolled on this run"]
    assert state() == before


def test_a_tampered_confirmation_cannot_reach_other_organisations(client, coordinator, run):
    make_learner("camden@example.org", organisation_code=CAMDEN)
    make_learner("ann@example.org")
    before = state()

    response = confirm(client, run, "email\nann@example.org\ncamden@example.org\n")

    assert response.status_code == 400
    assert row_problems(response)[3] == [not_found_message("camden@example.org")]
    assert state() == before


def test_a_confirmation_without_its_token_is_refused(client, coordinator, run):
    make_learner("ann@example.org")
    response = client.post(f"/runs/{run.id}/enrolments/import/confirm", data={"content": "email\nann@example.org\n"})
    assert response.status_code == 400
    assert state()[0] == []


def test_an_admin_enrols_people_of_any_organisation(client, signed_in_admin, run):
    camden = make_learner("camden@example.org", organisation_code=CAMDEN)
    preview = upload(client, run, "email\ncamden@example.org\n")
    assert row_problems(preview) == {2: []}
    assert confirm(client, run, hidden_content(preview)).status_code == 302
    assert db.session.scalar(select(Enrolment.person_id)) == camden.id


def test_learners_cannot_import(client, run):
    learner = make_learner("lee@example.org")
    sign_in(client, learner)
    assert client.get(f"/runs/{run.id}/enrolments/import").status_code == 403
