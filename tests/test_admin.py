"""Running Pathways: organisations and teams, the email outbox and the audit trail, for admins only."""

from __future__ import annotations

import re
from html import unescape

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Organisation, OrganisationKind, OutboundEmail, Role, Team
from app.services import accounts, organisations
from tests.conftest import csrf_token, make_person, organisation, post_form, sign_in
from tests.pages import html_of, page_title, text_of

HACKNEY = "E09000012"








def field_errors(response) -> dict[str, str]:
    errors = {}
    for name, body in re.findall(r'<p id="([\w-]+)-error" class="govuk-error-message">(.*?)</p>',
                                 html_of(response), re.S):
        errors[name] = " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split()).removeprefix("Error:").strip()
    return errors


def table_rows(response) -> list[list[str]]:
    body = re.search(r'<tbody class="govuk-table__body">(.*?)</tbody>', html_of(response), re.S)
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S):
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        rows.append([" ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells])
    return rows


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def add_organisation(client, **fields):
    data = {"name": "London Office of Technology and Innovation", "code": "LOTI", "kind": "partner"}
    data.update(fields)
    return post_form(client, "/admin/organisations/new", data)


# Organisations ---------------------------------------------------------------------------------------


def test_the_organisations_page_lists_every_london_authority_and_partner(client, signed_in_admin):
    make_person("sam@example.org", organisation_code=HACKNEY)
    organisations.add_team(None, organisation(HACKNEY), "Digital Services")
    db.session.commit()

    response = client.get("/admin/organisations")

    assert response.status_code == 200
    assert page_title(response) == "Organisations and teams – Pathways"
    assert "39 organisations" in text_of(response)
    rows = table_rows(response)
    assert len(rows) == 39
    codes = [row[1] for row in rows]
    assert sorted(c for c in codes if c.startswith("E09")) == [f"E09{n:06}" for n in range(1, 34)]
    assert sorted(c for c in codes if not c.startswith("E09")) == ["GLA", "LC", "LFB", "LLDC", "MPS", "TFL"]
    by_code = {row[1]: row for row in rows}
    assert by_code[HACKNEY] == ["London Borough of Hackney", HACKNEY, "London borough", "1", "1"]
    assert by_code["E09000001"][2] == "City of London"
    assert by_code["LC"] == ["London Councils", "LC", "Partner body", "0", "1"]  # the admin works there
    assert sum(row[2] == "Partner body" for row in rows) == 6


def test_an_organisation_page_shows_its_teams_and_people(client, signed_in_admin):
    hackney = organisation(HACKNEY)
    response = client.get(f"/admin/organisations/{hackney.id}")
    assert response.status_code == 200
    assert "No teams yet." in text_of(response)
    assert "0 people" in text_of(response)
    make_person("sam@example.org")
    assert "1 person" in text_of(client.get(f"/admin/organisations/{hackney.id}"))
    assert client.get("/admin/organisations/999999").status_code == 404


def test_admin_adds_an_organisation(client, signed_in_admin):
    page = client.get("/admin/organisations/new")
    assert page.status_code == 200
    assert page_title(page) == "Add an organisation – Pathways"

    response = add_organisation(client, code=" loti ", name=" London Office of Technology and Innovation ")

    added = db.session.scalar(select(Organisation).where(Organisation.code == "LOTI"))
    assert added is not None
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/organisations/{added.id}"
    assert (added.name, added.kind, added.active) == (
        "London Office of Technology and Innovation", OrganisationKind.PARTNER, True)
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "organisation.created")).all()
    assert event.actor_id == signed_in_admin.id
    assert event.summary == "Added organisation London Office of Technology and Innovation (LOTI)"
    shown = client.get(response.headers["Location"])
    assert "London Office of Technology and Innovation has been added." in text_of(shown)
    assert "40 organisations" in text_of(client.get("/admin/organisations"))
    # People can now be invited into it.
    assert "London Office of Technology and Innovation" in text_of(client.get("/people/new"))


CODE_RULE = "Code must be 2 to 20 letters, digits or hyphens, like LOTI"
BAD_ORGANISATIONS = {
    "empty": ({"name": "", "code": ""},
              {"name": "Enter the organisation's name", "code": "Enter a code for the organisation"}),
    "blank name": ({"name": "   "}, {"name": "Enter the organisation's name"}),
    "short code": ({"code": "L"}, {"code": CODE_RULE}),
    "space in code": ({"code": "LO TI"}, {"code": CODE_RULE}),
    "leading hyphen": ({"code": "-LOTI"}, {"code": CODE_RULE}),
    "symbol in code": ({"code": "LOTI!"}, {"code": CODE_RULE}),
    "long code": ({"code": "L" * 21}, {"code": "Field cannot be longer than 20 characters."}),
    "duplicate code": ({"code": "lc"}, {"code": "An organisation with the code LC already exists"}),
    "duplicate ONS code": ({"code": "e09000012"}, {"code": "An organisation with the code E09000012 already exists"}),
    "duplicate name": ({"name": "london councils"}, {"name": "An organisation called london councils already exists"}),
    "long name": ({"name": "x" * 201}, {"name": "Field cannot be longer than 200 characters."}),
    "unknown kind": ({"kind": "charity"}, {"kind": "Not a valid choice."}),
}


def test_a_bad_organisation_is_refused_beside_the_field(client, signed_in_admin):
    for case, (fields, errors) in BAD_ORGANISATIONS.items():
        response = add_organisation(client, **fields)
        assert response.status_code == 200, case
        assert page_title(response) == "Error: Add an organisation – Pathways", case
        assert field_errors(response) == errors, case
        assert count(Organisation) == 39, case
        assert count(AuditEvent) == 2, case  # only the admin's own creation and their authenticator app


def test_admin_adds_teams_to_an_organisation(client, signed_in_admin):
    hackney = organisation(HACKNEY)
    path = f"/admin/organisations/{hackney.id}"

    response = post_form(client, path, {"name": " Digital Services "})

    assert response.status_code == 302
    assert response.headers["Location"] == path
    [team] = db.session.scalars(select(Team)).all()
    assert (team.name, team.organisation_id) == ("Digital Services", hackney.id)
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "team.created")).all()
    assert event.actor_id == signed_in_admin.id
    assert event.details == {"organisation": HACKNEY}
    page = client.get(path)
    assert "Digital Services has been added to London Borough of Hackney." in text_of(page)
    assert "<li>Digital Services</li>" in html_of(page)

    # The same name in another organisation is fine.
    camden = organisation("E09000007")
    assert post_form(client, f"/admin/organisations/{camden.id}", {"name": "Digital Services"}).status_code == 302
    assert count(Team) == 2


def test_a_bad_team_is_refused(client, signed_in_admin):
    hackney = organisation(HACKNEY)
    organisations.add_team(None, hackney, "Digital Services")
    db.session.commit()
    duplicate = "London Borough of Hackney already has a team called Digital Services"
    for name, message in [
        ("Digital Services", duplicate),
        ("  digital SERVICES ", duplicate),
        ("", "Enter the team's name"),
        ("   ", "Enter the team's name"),
        ("t" * 201, "Field cannot be longer than 200 characters."),
    ]:
        response = post_form(client, f"/admin/organisations/{hackney.id}", {"name": name})
        assert response.status_code == 200, name
        assert field_errors(response) == {"name": message}, name
        assert count(Team) == 1


# Who may run Pathways --------------------------------------------------------------------------------


def test_only_admins_may_use_the_admin_pages(app):
    hackney = organisation(HACKNEY)
    make_person("new@example.org", name="Nia New", password=None)
    message = db.session.scalar(select(OutboundEmail))
    for number, roles in enumerate([(Role.COORDINATOR,), (Role.LEARNER,), (Role.SUPERVISOR, Role.APPRENTICE)]):
        browser = app.test_client()
        sign_in(browser, make_person(f"me{number}@example.org", roles=roles,
                                     scope=(HACKNEY,) if Role.COORDINATOR in roles else ()))
        for path in ("/admin/organisations", "/admin/organisations/new", f"/admin/organisations/{hackney.id}",
                     "/admin/outbox", f"/admin/outbox/{message.id}", "/admin/audit",
                     "/admin/audit?action=person.created"):
            response = browser.get(path)
            assert response.status_code == 403, (roles, path)
            assert "You do not have permission to see this page" in text_of(response)
        token = csrf_token(browser, "/")
        assert browser.post("/admin/organisations/new",
                            data={"csrf_token": token, "name": "Sneaky", "code": "SNEAKY", "kind": "partner"}
                            ).status_code == 403
        assert browser.post(f"/admin/organisations/{hackney.id}", data={"csrf_token": token, "name": "Sneaky"}
                            ).status_code == 403
        assert 'href="/admin/' not in html_of(browser.get("/")), roles
    assert count(Organisation) == 39 and count(Team) == 0


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for path in ("/admin/organisations", "/admin/organisations/new", "/admin/outbox", "/admin/audit"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/sign-in?next=")


def test_admins_see_the_admin_pages_in_their_navigation(client, signed_in_admin):
    home = html_of(client.get("/"))
    for path in ("/admin/organisations", "/admin/outbox", "/admin/audit"):
        assert f'href="{path}"' in home


# The outbox ------------------------------------------------------------------------------------------


def test_the_outbox_lists_messages_newest_first_and_shows_each_one(client, signed_in_admin):
    make_person("first@example.org", name="Fay First", password=None)
    make_person("second@example.org", name="Sol Second", password=None)

    response = client.get("/admin/outbox")

    assert response.status_code == 200
    page = text_of(response)
    assert "2 messages, newest first" in page
    assert "Email is not sent in this environment (MAIL_BACKEND=outbox)" in page
    rows = table_rows(response)
    assert [row[1] for row in rows] == ["second@example.org", "first@example.org"]
    assert all(row[2] == "You have been invited to Pathways" and row[3] == "Queued" for row in rows)

    message = db.session.scalar(select(OutboundEmail).where(OutboundEmail.recipient == "first@example.org"))
    assert f'href="/admin/outbox/{message.id}"' in html_of(response)
    shown = client.get(f"/admin/outbox/{message.id}")
    assert shown.status_code == 200
    assert page_title(shown) == "You have been invited to Pathways – Pathways"
    text = text_of(shown)
    assert "Email to first@example.org" in text
    assert "Dear Fay First," in text
    link = re.search(r"http://pathways\.test/set-password/[\w.-]+", message.body_text).group(0)
    assert f'<a href="{link}" rel="noopener">{link}</a>' in html_of(shown)  # the link can be followed from here


def test_an_empty_outbox_and_a_missing_message(client, signed_in_admin):
    assert "No messages yet." in text_of(client.get("/admin/outbox"))
    assert client.get("/admin/outbox/12345").status_code == 404


def test_the_outbox_is_paged(client, signed_in_admin):
    person = make_person("many@example.org", password=None)
    for _ in range(54):
        accounts.send_invitation(None, person)
    db.session.commit()
    first = client.get("/admin/outbox")
    assert "55 messages, newest first" in text_of(first)
    assert len(table_rows(first)) == 50
    assert len(table_rows(client.get("/admin/outbox?page=2"))) == 5


# The audit trail -------------------------------------------------------------------------------------


def test_the_audit_trail_lists_changes_and_filters_by_type(client, signed_in_admin):
    sam = make_person("sam@example.org", name="Sam Taylor", password=None)
    post_form(client, f"/people/{sam.id}/roles", {"roles": ["supervisor"]})
    post_form(client, "/admin/organisations/new", {"name": "Pathways Partner", "code": "PP", "kind": "partner"})

    response = client.get("/admin/audit")

    assert response.status_code == 200
    assert page_title(response) == "Audit trail – Pathways"
    rows = table_rows(response)
    actions = [row[2] for row in rows]
    assert actions == ["organisation.created", "person.roles_changed", "person.invited", "person.created",
                       "second_factor.set_up", "person.created"]
    assert f"{len(rows)} changes, newest first" in text_of(response)
    by_action = {row[2]: row for row in rows}
    assert by_action["person.roles_changed"][1] == "Alex Admin"
    assert by_action["person.roles_changed"][3] == "Roles of Sam Taylor changed from learner to supervisor"
    assert by_action["person.invited"][1] == "Command line"
    # Every type of change is offered in the filter.
    options = re.findall(r'<option value="([^"]*)"', html_of(response))
    assert options == ["", "organisation.created", "person.created", "person.invited", "person.roles_changed",
                       "second_factor.set_up"]

    filtered = client.get("/admin/audit?action=person.created")
    rows = table_rows(filtered)
    assert [row[2] for row in rows] == ["person.created", "person.created"]
    assert [row[3] for row in rows] == ["Created Sam Taylor <sam@example.org> as learner",
                                        "Created Alex Admin <admin@example.org> as admin"]
    assert "2 changes, newest first" in text_of(filtered)
    assert re.search(r'<option value="person.created" selected', html_of(filtered))

    nothing = client.get("/admin/audit?action=no.such.thing")
    assert nothing.status_code == 200
    assert "No changes recorded." in text_of(nothing)
