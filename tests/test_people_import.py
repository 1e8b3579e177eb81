"""Inviting people from a CSV file: every row is checked and previewed before anything is saved, then
everyone is created and invited together, or nobody is."""

from __future__ import annotations

import io
import re
from html import unescape

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, OutboundEmail, Person, Role
from app.services import accounts, organisations
from tests.conftest import csrf_token, make_person, organisation, post_form, sign_in
from tests.pages import field_error, html_of, page_title, text_of

HACKNEY, CAMDEN = "E09000012", "E09000007"
HEADER = "email,name,organisation,roles,scope,team\n"
COLUMNS = "email, name, organisation, roles, scope, team"










def row_problems(response) -> dict[int, list[str]]:
    """The problems listed against each line of the file in the preview."""
    problems = {}
    for line, row in re.findall(r'<tr class="govuk-table__row" id="line-(\d+)">(.*?)</tr>', html_of(response), re.S):
        problems[int(line)] = [" ".join(unescape(m).split()) for m in re.findall(r"<li>(.*?)</li>", row, re.S)]
    return problems


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


def upload(client, content: bytes | str, filename: str = "people.csv"):
    data = content.encode() if isinstance(content, str) else content
    return post_form(client, "/people/import", {"file": (io.BytesIO(data), filename)})


def confirm(client, content: str):
    return post_form(client, "/people/import/confirm", {"content": content}, token_from="/people/import")


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def person_by_email(email: str) -> Person | None:
    db.session.expire_all()
    return db.session.scalar(select(Person).where(Person.email == email))


def nothing_saved(people: int = 1) -> bool:
    return (count(Person), count(OutboundEmail)) == (people, 0)


@pytest.fixture
def hackney_coordinator(client):
    coordinator = make_person("coordinator@example.org", name="Cora Coordinator", roles=(Role.COORDINATOR,),
                              scope=(HACKNEY,))
    sign_in(client, coordinator)
    return coordinator


# A good file ---------------------------------------------------------------------------------------


def test_a_clean_file_is_previewed_then_everyone_is_created_and_invited(client, signed_in_admin):
    organisations.add_team(None, organisation(HACKNEY), "Digital Services")
    db.session.commit()
    page = client.get("/people/import")
    assert page.status_code == 200
    assert "email,name,organisation,roles,scope,team" in text_of(page)

    # Spreadsheet habits are forgiven: a byte-order mark, Windows line ends, spaces and capitals in the
    # column names and the codes, blank lines, and roles separated by semicolons.
    content = (
        "\ufeffEmail, Name ,ORGANISATION,Roles,Scope,Team\r\n"
        "ana@example.org,Ana Alves,E09000012,learner,,\r\n"
        "\r\n"
        "Ben@Example.org,Ben Brown,e09000007,Coordinator;Supervisor,E09000007;E09000012,\r\n"
        'cy@example.org,"Cy Chen, Jr",E09000012,apprentice,,digital services\r\n'
    ).encode("utf-8")
    preview = upload(client, content)

    assert preview.status_code == 200
    assert page_title(preview) == "Check the people to invite – Pathways"
    assert "3 people in the file" in text_of(preview)
    assert row_problems(preview) == {2: [], 4: [], 5: []}
    assert text_of(preview).count("Ready") == 3
    assert "ben@example.org" in text_of(preview) and "Cy Chen, Jr" in text_of(preview)
    assert error_summary(preview) == []
    assert nothing_saved()

    response = confirm(client, hidden_content(preview))

    assert response.status_code == 302
    assert response.headers["Location"] == "/people"
    assert "3 people have been invited." in text_of(client.get("/people"))
    ana, ben, cy = (person_by_email(e) for e in ("ana@example.org", "ben@example.org", "cy@example.org"))
    assert (ana.name, ana.organisation.code, ana.roles) == ("Ana Alves", HACKNEY, {Role.LEARNER})
    assert (ben.organisation.code, ben.roles) == (CAMDEN, {Role.COORDINATOR, Role.SUPERVISOR})
    assert ben.coordinator_scope_ids == {organisation(HACKNEY).id, organisation(CAMDEN).id}
    assert (cy.name, cy.roles, cy.team.name) == ("Cy Chen, Jr", {Role.APPRENTICE}, "Digital Services")
    assert not any(p.has_password for p in (ana, ben, cy))

    emails = db.session.scalars(select(OutboundEmail).order_by(OutboundEmail.recipient)).all()
    assert [e.recipient for e in emails] == ["ana@example.org", "ben@example.org", "cy@example.org"]
    assert all(e.purpose == "invitation" and "/set-password/" in e.body_text for e in emails)
    created = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "person.created",
                                                          AuditEvent.actor_id == signed_in_admin.id)).all()
    assert len(created) == 3


def test_one_person_is_counted_as_one(client, signed_in_admin):
    preview = upload(client, HEADER + "ana@example.org,Ana Alves,E09000012,learner,,\n")
    assert "1 person in the file" in text_of(preview)
    confirm(client, hidden_content(preview))
    assert "1 person has been invited." in text_of(client.get("/people"))


def test_a_coordinator_imports_people_into_their_organisation(client, hackney_coordinator):
    preview = upload(client, HEADER + "ana@example.org,Ana Alves,E09000012,learner;supervisor,,\n"
                                      "bo@example.org,Bo Bell,E09000012,coordinator,E09000012,\n")
    assert row_problems(preview) == {2: [], 3: []}
    assert confirm(client, hidden_content(preview)).status_code == 302
    assert person_by_email("ana@example.org").roles == {Role.LEARNER, Role.SUPERVISOR}
    assert person_by_email("bo@example.org").coordinator_scope_ids == {organisation(HACKNEY).id}
    [email, _] = db.session.scalars(select(OutboundEmail).order_by(OutboundEmail.recipient)).all()
    assert "Cora Coordinator has invited you" in email.body_text


# Problems in rows ----------------------------------------------------------------------------------


def test_every_problem_is_shown_against_its_line_and_nothing_is_saved(client, signed_in_admin):
    organisations.add_team(None, organisation(HACKNEY), "Digital Services")
    db.session.commit()
    content = HEADER + "\n".join([
        "ana@example.org,Ana Alves,E09000012,learner,,",                 # 2: fine
        "bo@example.org,Bo Bell,E09999999,learner,,",                    # 3
        "ANA@example.org,Ana Again,E09000012,learner,,",                 # 4
        "Admin@Example.org,Alex Again,LC,learner,,",                     # 5
        "cy@example.org,Cy Chen,E09000012,learner;wizard,,",             # 6
        "not-an-email,Di Dee,E09000012,learner,,",                       # 7
        "ed@example.org,,E09000012,learner,,",                           # 8
        "fi@example.org,Fi Fox,E09000012,,,",                            # 9
        "gus@example.org,Gus Gray,,learner,,",                           # 10
        "hal@example.org,Hal Hill,E09000012,coordinator,XYZ,",           # 11
        "ivy@example.org,Ivy Ito,E09000012,learner,,Nowhere",            # 12
        "jo@example.org,Jo Jay,E09000012,learner,E09000007,",            # 13
        "kim@example.org," + "K" * 201 + ",E09000012,learner,,",         # 14
        "lu@example.org,Lu Lo,E09000012,learner,,Digital Services",      # 15: fine, the team exists
    ]) + "\n"

    preview = upload(client, content)

    assert preview.status_code == 200
    assert page_title(preview) == "Error: Check the people to invite – Pathways"
    roles = "learner, apprentice, supervisor, coordinator, admin"
    assert row_problems(preview) == {
        2: [],
        3: ["Unknown organisation code E09999999"],
        4: ["ana@example.org is also on line 2"],
        5: ["admin@example.org already has an account"],
        6: [f"Unknown role wizard; use {roles}"],
        7: ["Enter an email address in the correct format, like name@example.org"],
        8: ["Enter the person's full name"],
        9: ["Enter at least one role"],
        10: ["Enter the code of the person's organisation"],
        11: ["Unknown organisation code XYZ in scope"],
        12: ["London Borough of Hackney has no team called Nowhere"],
        13: ["Only coordinators have organisations to coordinate"],
        14: ["Name must be 200 characters or fewer"],
        15: [],
    }
    summary = error_summary(preview)
    assert "Nobody has been added: fix the file and upload it again" in text_of(preview)
    assert summary[0] == "Line 3: Unknown organisation code E09999999"
    assert len(summary) == 12
    assert 'href="#line-3"' in html_of(preview)
    assert hidden_content(preview) is None  # no button to go ahead
    assert "Upload a corrected file" in text_of(preview)
    assert nothing_saved()


def test_a_row_may_have_several_problems(client, signed_in_admin):
    preview = upload(client, HEADER + "nope,,E09999999,wizard,,\n")
    assert row_problems(preview) == {2: [
        "Enter an email address in the correct format, like name@example.org",
        "Enter the person's full name",
        "Unknown organisation code E09999999",
        "Unknown role wizard; use learner, apprentice, supervisor, coordinator, admin",
    ]}
    assert error_summary(preview) == [
        "Line 2: Enter an email address in the correct format, like name@example.org; "
        "Enter the person's full name; Unknown organisation code E09999999; "
        "Unknown role wizard; use learner, apprentice, supervisor, coordinator, admin"
    ]


def test_a_coordinator_cannot_import_beyond_their_organisations(client, hackney_coordinator):
    content = HEADER + "\n".join([
        "ana@example.org,Ana Alves,E09000007,learner,,",            # 2: Camden
        "bo@example.org,Bo Bell,E09000012,admin,,",                 # 3
        "cy@example.org,Cy Chen,E09000012,coordinator,E09000007,",  # 4
        "di@example.org,Di Dee,E09000012,coordinator,,",            # 5
        "ed@example.org,Ed Eve,E09000012,learner,,",                # 6: fine
    ]) + "\n"
    preview = upload(client, content)
    assert row_problems(preview) == {
        2: ["London Borough of Camden is not one of your organisations"],
        3: ["You cannot give the admin role"],
        4: ["You cannot give a coordinator scope over London Borough of Camden"],
        5: ["Choose the organisations this coordinator covers"],
        6: [],
    }
    assert hidden_content(preview) is None
    assert nothing_saved(people=1)


def test_a_confirmation_is_checked_again_with_the_permissions_of_who_sends_it(client, hackney_coordinator):
    # The file travels in the page, so a confirmation that was never previewed is checked all the same.
    response = confirm(client, HEADER + "ana@example.org,Ana Alves,E09000007,admin,,\n")
    assert response.status_code == 400
    assert row_problems(response) == {2: ["London Borough of Camden is not one of your organisations"]}
    assert nothing_saved(people=1)


def test_a_change_between_preview_and_confirmation_stops_the_whole_import(client, signed_in_admin):
    preview = upload(client, HEADER + "ana@example.org,Ana Alves,E09000012,learner,,\n"
                                      "bo@example.org,Bo Bell,E09000012,learner,,\n")
    assert row_problems(preview) == {2: [], 3: []}
    # Meanwhile someone else gives Bo an account.
    make_person("bo@example.org", name="Bo Bell")

    response = confirm(client, hidden_content(preview))

    assert response.status_code == 400
    assert row_problems(response) == {2: [], 3: ["bo@example.org already has an account"]}
    assert "Nobody has been added: fix the file and upload it again" in text_of(response)
    assert person_by_email("ana@example.org") is None
    assert nothing_saved(people=2)


def test_a_change_of_permissions_between_preview_and_confirmation_stops_the_import(app, client,
                                                                                     hackney_coordinator):
    preview = upload(client, HEADER + "ana@example.org,Ana Alves,E09000012,learner,,\n")
    assert row_problems(preview) == {2: []}
    coordinator = person_by_email("coordinator@example.org")
    accounts.change_roles(None, coordinator, [Role.COORDINATOR], [organisation(CAMDEN)])
    db.session.commit()

    response = confirm(client, hidden_content(preview))
    assert response.status_code == 400
    assert row_problems(response) == {2: ["London Borough of Hackney is not one of your organisations"]}
    assert nothing_saved(people=1)


def test_a_confirmation_without_its_form_token_is_refused(client, signed_in_admin):
    response = client.post("/people/import/confirm", data={"content": HEADER + "a@example.org,A,LC,learner,,\n"})
    assert response.status_code == 400
    assert nothing_saved()


def test_an_empty_confirmation_saves_nothing(client, signed_in_admin):
    response = confirm(client, "")
    assert response.status_code == 400
    assert "The file is empty" in text_of(response)
    assert nothing_saved()


# Problems with the file ------------------------------------------------------------------------------


def test_a_file_that_is_not_utf8_is_refused_naming_the_line(client, signed_in_admin):
    content = (HEADER + "ana@example.org,Ana Alves,E09000012,learner,,\n").encode() + (
        "jorg@example.org,J\u00f6rg Meyer,E09000012,learner,,\n".encode("latin-1"))
    response = upload(client, content)
    assert response.status_code == 200
    assert page_title(response) == "Error: Invite people from a CSV file – Pathways"
    assert field_error(response, "file") == (
        "Line 3: the file is not UTF-8 text. Save it as 'CSV UTF-8' and try again")
    assert nothing_saved()


def test_only_csv_files_are_accepted(client, signed_in_admin):
    for filename in ("people.txt", "people.xlsx", "people"):
        response = upload(client, HEADER + "ana@example.org,Ana Alves,E09000012,learner,,\n", filename)
        assert response.status_code == 200, filename
        assert field_error(response, "file") == "The selected file must be a CSV", filename
        assert nothing_saved()


def test_a_file_must_be_chosen(client, signed_in_admin):
    response = post_form(client, "/people/import", {})
    assert field_error(response, "file") == "Select a CSV file"


FILE_PROBLEMS = {
    "empty": ("", [f"The file is empty. The first line must name the columns: {COLUMNS}"]),
    "blank lines": ("\n\n", [f"The file is empty. The first line must name the columns: {COLUMNS}"]),
    "column names only": (HEADER, ["The file has no people in it, only the line of column names"]),
    "empty rows": (HEADER + ",,,,,\n\n", ["The file has no people in it, only the line of column names"]),
    "missing column": ("email,name,organisation\nana@example.org,Ana,LC\n",
                       [f"Line 1: the file has no roles column. The columns are: {COLUMNS}"]),
    "wrong separator": ("email;name;organisation;roles\n",
                        [f"Line 1: the file has no email, name, organisation, roles column. The columns are: {COLUMNS}",
                         f"Line 1: unknown column email;name;organisation;roles. The columns are: {COLUMNS}"]),
    "unknown column": ("email,name,organisation,roles,phone\n",
                       [f"Line 1: unknown column phone. The columns are: {COLUMNS}"]),
}


def test_problems_with_the_whole_file(client, signed_in_admin):
    for case, (content, messages) in FILE_PROBLEMS.items():
        preview = upload(client, content)
        assert preview.status_code == 200, case
        assert error_summary(preview) == messages, case
        assert hidden_content(preview) is None, case
        assert nothing_saved()


def test_a_file_of_more_than_a_thousand_people_is_refused(client, signed_in_admin):
    rows = "".join(f"p{n}@example.org,Person {n},E09000012,learner,,\n" for n in range(1001))
    preview = upload(client, HEADER + rows)
    assert "The file has more than 1000 people. Split it into smaller files" in error_summary(preview)
    assert hidden_content(preview) is None
    assert nothing_saved()


# Who may import ------------------------------------------------------------------------------------


def test_people_without_a_managing_role_cannot_import(client):
    learner = make_person("learner@example.org")
    sign_in(client, learner)
    assert client.get("/people/import").status_code == 403
    token = csrf_token(client, "/")
    response = client.post("/people/import", data={"csrf_token": token,
                                                  "file": (io.BytesIO(HEADER.encode()), "people.csv")})
    assert response.status_code == 403
    response = client.post("/people/import/confirm",
                           data={"csrf_token": token, "content": HEADER + "a@example.org,A,LC,admin,,\n"})
    assert response.status_code == 403
    assert count(Person) == 1
