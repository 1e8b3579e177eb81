"""People: inviting one person, changing roles, deactivating and reactivating, and the list, for admins
and for coordinators, who see only the people of the organisations they coordinate."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, OutboundEmail, Person, Role
from app.services import ServiceError, accounts, organisations
from tests.conftest import PASSWORD, csrf_token, make_person, organisation, post_form, sign_in
from tests.pages import field_error, html_of, page_title, text_of

HACKNEY, CAMDEN, ISLINGTON = "E09000012", "E09000007", "E09000019"


# Helpers -------------------------------------------------------------------------------------------










def field_errors(response) -> dict[str, str]:
    found = re.findall(r'<p id="([\w-]+)-error" class="govuk-error-message">', html_of(response))
    return {name: field_error(response, name) for name in found}


def flash_messages(response) -> str:
    return " ".join(
        " ".join(unescape(re.sub(r"<[^>]+>", " ", m)).split())
        for m in re.findall(r'<div class="govuk-notification-banner.*?</div>\s*</div>', html_of(response), re.S)
    )


def select_options(response, name: str) -> dict[str, str]:
    block = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html_of(response), re.S)
    assert block, f"no {name} select on the page"
    return {unescape(text.strip()): value
            for value, text in re.findall(r'<option value="([^"]*)"[^>]*>(.*?)</option>', block.group(1), re.S)}


def checkbox_values(response, name: str) -> set[str]:
    inputs = re.findall(rf'<input[^>]*name="{name}"[^>]*>', html_of(response))
    return {re.search(r'value="([^"]*)"', i).group(1) for i in inputs}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def person_by_email(email: str) -> Person | None:
    db.session.expire_all()
    return db.session.scalar(select(Person).where(Person.email == email))


def events(action: str, subject: Person | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    if subject is not None:
        query = query.where(AuditEvent.subject_type == "person", AuditEvent.subject_id == subject.id)
    return list(db.session.scalars(query))


def org_id(code: str) -> str:
    return str(organisation(code).id)


def invite(client, **fields):
    data = {"name": "Sam Taylor", "email": "sam@example.org", "organisation": org_id(HACKNEY), "team": "",
            "roles": ["learner"], "scope": []}
    data.update(fields)
    return post_form(client, "/people/new", data)


def is_signed_in(client) -> bool:
    return client.get("/account/password").status_code == 200


def make_coordinator(email="coordinator@example.org", *, scope=(HACKNEY,), organisation_code=HACKNEY, **kwargs):
    return make_person(email, name="Cora Coordinator", roles=(Role.COORDINATOR,), organisation_code=organisation_code,
                       scope=scope, **kwargs)


@pytest.fixture
def hackney_coordinator(client):
    coordinator = make_coordinator()
    sign_in(client, coordinator)
    return coordinator


# Inviting someone ----------------------------------------------------------------------------------


def test_admin_invites_someone_who_is_emailed_a_link_to_set_a_password(app, client, signed_in_admin):
    page = client.get("/people/new")
    assert page.status_code == 200
    assert page_title(page) == "Invite someone – Pathways"

    response = invite(client, name="  Sam Taylor ", email="Sam.Taylor@Example.org")

    person = person_by_email("sam.taylor@example.org")
    assert person is not None
    assert response.status_code == 302
    assert response.headers["Location"] == f"/people/{person.id}"
    assert person.name == "Sam Taylor"
    assert person.organisation.code == HACKNEY
    assert person.roles == {Role.LEARNER}
    assert person.active and not person.has_password and person.invited_at is not None

    [email] = db.session.scalars(select(OutboundEmail)).all()
    assert email.recipient == "sam.taylor@example.org"
    assert email.purpose == "invitation"
    assert email.subject == "You have been invited to Pathways"
    assert "Alex Admin has invited you" in email.body_text
    link = re.search(r"http://pathways\.test(/set-password/\S+)", email.body_text)
    assert link, email.body_text

    [created] = events("person.created", person)
    assert created.actor_id == signed_in_admin.id
    assert "Sam Taylor <sam.taylor@example.org>" in created.summary
    [invited] = events("person.invited", person)
    assert invited.actor_id == signed_in_admin.id

    shown = client.get(response.headers["Location"])
    assert ("Sam Taylor has been invited. An email with a link to set a password is on its way to "
            "sam.taylor@example.org.") in flash_messages(shown)
    assert "Invited" in text_of(shown)
    assert "Send the invitation again" in text_of(shown)

    # The link in the email opens the page where they choose a password.
    invited_browser = app.test_client()
    assert invited_browser.get(link.group(1)).status_code == 200


def test_admin_invites_a_coordinator_with_a_team_and_organisations_to_coordinate(client, signed_in_admin):
    team = organisations.add_team(None, organisation(HACKNEY), "Digital Services")
    db.session.commit()
    page = client.get("/people/new")
    assert select_options(page, "team")["Digital Services (London Borough of Hackney)"] == str(team.id)

    response = invite(client, email="cat@example.org", name="Cat Jones", team=str(team.id),
                      roles=["coordinator", "supervisor"], scope=[org_id(HACKNEY), org_id(CAMDEN)])

    assert response.status_code == 302
    person = person_by_email("cat@example.org")
    assert person.team.name == "Digital Services"
    assert person.roles == {Role.COORDINATOR, Role.SUPERVISOR}
    assert person.coordinator_scope_ids == {organisation(HACKNEY).id, organisation(CAMDEN).id}
    shown = text_of(client.get(f"/people/{person.id}"))
    assert "supervisor, coordinator (London Borough of Camden, London Borough of Hackney)" in shown


def test_admin_may_make_a_programme_wide_coordinator_and_an_admin(client, signed_in_admin):
    assert invite(client, email="pw@example.org", roles=["coordinator"]).status_code == 302
    assert person_by_email("pw@example.org").coordinator_scope_ids is None
    assert invite(client, email="second.admin@example.org", roles=["admin"]).status_code == 302
    assert person_by_email("second.admin@example.org").roles == {Role.ADMIN}


BAD_INVITATIONS = {
    "no name": ({"name": ""}, "name", "Enter the person's full name"),
    "blank name": ({"name": "   "}, "name", "Enter the person's full name"),
    "long name": ({"name": "x" * 201}, "name", "Field cannot be longer than 200 characters."),
    "no email": ({"email": ""}, "email", "Enter an email address"),
    "bad email": ({"email": "not-an-email"}, "email",
                  "Enter an email address in the correct format, like name@example.org"),
    "half an email": ({"email": "sam@"}, "email",
                      "Enter an email address in the correct format, like name@example.org"),
    "duplicate email": ({"email": "admin@example.org"}, "email",
                        "Someone with the email address admin@example.org already has an account"),
    "duplicate email in other case": ({"email": " ADMIN@Example.ORG "}, "email",
                                      "Someone with the email address admin@example.org already has an account"),
    "no role": ({"roles": []}, "roles", "Select at least one role"),
    "unknown role": ({"roles": ["wizard"]}, "roles", "'wizard' is not a valid choice for this field."),
    "scope without coordinator": ({"roles": ["learner"], "scope": [CAMDEN]}, "scope",
                                  "Only coordinators have organisations to coordinate"),
    "no organisation": ({"organisation": ""}, "organisation", "Select the person's organisation"),
}


def test_a_bad_invitation_shows_the_error_beside_the_field_and_saves_nothing(client, signed_in_admin):
    people, audit_events = count(Person), count(AuditEvent)
    for case, (fields, field, message) in BAD_INVITATIONS.items():
        if "scope" in fields:
            fields = {**fields, "scope": [org_id(code) for code in fields["scope"]]}

        response = invite(client, **fields)

        assert response.status_code == 200, case
        assert page_title(response) == "Error: Invite someone – Pathways", case
        assert field_errors(response) == {field: message}, case
        assert "There is a problem" in text_of(response), case  # the error summary links to the field
        assert f'href="#{field}"' in html_of(response), case
        assert (count(Person), count(AuditEvent), count(OutboundEmail)) == (people, audit_events, 0), case


def test_a_team_of_another_organisation_is_refused(client, signed_in_admin):
    camden_team = organisations.add_team(None, organisation(CAMDEN), "Customer Services")
    db.session.commit()
    response = invite(client, team=str(camden_team.id))
    assert field_errors(response) == {"team": "Customer Services is not a team in London Borough of Hackney"}
    assert person_by_email("sam@example.org") is None
    assert count(OutboundEmail) == 0


def test_the_invitation_can_be_sent_again_until_a_password_is_set(client, signed_in_admin):
    invited = make_person("new@example.org", name="Nia New", password=None)
    response = post_form(client, f"/people/{invited.id}/invitation", token_from=f"/people/{invited.id}")
    assert response.status_code == 302
    assert "A new invitation is on its way to new@example.org." in flash_messages(client.get(f"/people/{invited.id}"))
    assert db.session.scalar(
        select(func.count()).select_from(OutboundEmail).where(OutboundEmail.recipient == "new@example.org")
    ) == 2

    settled = make_person("settled@example.org", name="Sid Settled")
    post_form(client, f"/people/{settled.id}/invitation", token_from=f"/people/{settled.id}")
    shown = client.get(f"/people/{settled.id}")
    assert "Sid Settled has already set a password; they can use 'Forgot your password'" in flash_messages(shown)
    assert "Send the invitation again" not in text_of(shown)
    assert db.session.scalar(
        select(func.count()).select_from(OutboundEmail).where(OutboundEmail.recipient == "settled@example.org")
    ) == 0


# Who may see people ---------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client):
    person = make_person()
    for path in ("/people", "/people/new", f"/people/{person.id}", f"/people/{person.id}/roles",
                 f"/people/{person.id}/deactivate", "/people/import"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/sign-in?next="), path
    response = client.post("/people/import/confirm", data={"csrf_token": csrf_token(client), "content": "x"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in?next=")


def test_people_without_a_managing_role_are_refused(app):
    other = make_person("other@example.org")
    for number, roles in enumerate([(Role.LEARNER,), (Role.APPRENTICE,), (Role.SUPERVISOR,),
                                    (Role.LEARNER, Role.APPRENTICE, Role.SUPERVISOR)]):
        browser = app.test_client()
        sign_in(browser, make_person(f"me{number}@example.org", roles=roles))
        for path in ("/people", "/people/new", "/people/import", f"/people/{other.id}", f"/people/{other.id}/roles"):
            response = browser.get(path)
            assert response.status_code == 403, (roles, path)
            assert "You do not have permission to see this page" in text_of(response)
        assert 'href="/people"' not in html_of(browser.get("/")), roles


def test_the_people_link_is_in_the_navigation_of_those_who_manage_people(client, hackney_coordinator):
    assert 'href="/people"' in html_of(client.get("/"))


# Coordinators ---------------------------------------------------------------------------------------


def test_a_coordinator_sees_only_the_people_of_their_organisations(client):
    make_person("hana@example.org", name="Hana Hackney")
    make_person("carl@example.org", name="Carl Camden", organisation_code=CAMDEN)
    make_person("ivy@example.org", name="Ivy Islington", organisation_code=ISLINGTON)
    coordinator = make_coordinator()
    sign_in(client, coordinator)

    page = text_of(client.get("/people"))
    assert "Hana Hackney" in page and "Cora Coordinator" in page
    assert "Carl Camden" not in page and "Ivy Islington" not in page
    assert "2 people" in page
    # Filtering by an organisation outside their scope shows nobody, rather than that organisation's people.
    page = client.get(f"/people?organisation={org_id(CAMDEN)}")
    assert "Carl Camden" not in text_of(page)
    assert "No people match these filters." in text_of(page)
    assert set(select_options(page, "organisation")) == {"All", "London Borough of Hackney"}


def test_a_coordinator_of_two_organisations_sees_both(client):
    make_person("hana@example.org", name="Hana Hackney")
    make_person("carl@example.org", name="Carl Camden", organisation_code=CAMDEN)
    make_person("ivy@example.org", name="Ivy Islington", organisation_code=ISLINGTON)
    sign_in(client, make_coordinator(scope=(HACKNEY, CAMDEN)))
    page = text_of(client.get("/people"))
    assert "Hana Hackney" in page and "Carl Camden" in page
    assert "Ivy Islington" not in page


def test_a_programme_wide_coordinator_sees_everyone_except_they_cannot_manage_admins(client, admin):
    make_person("carl@example.org", name="Carl Camden", organisation_code=CAMDEN)
    sign_in(client, make_coordinator(scope=()))
    page = text_of(client.get("/people"))
    assert "Carl Camden" in page
    assert client.get(f"/people/{admin.id}").status_code == 404


def test_a_coordinator_cannot_open_people_outside_their_organisations(client, hackney_coordinator, admin):
    camden = make_person("carl@example.org", name="Carl Camden", organisation_code=CAMDEN)
    hackney_admin = make_person("hackney.admin@example.org", roles=(Role.ADMIN,))
    for person in (camden, hackney_admin, admin):
        for path in (f"/people/{person.id}", f"/people/{person.id}/roles", f"/people/{person.id}/deactivate"):
            assert client.get(path).status_code == 404, path
        token = csrf_token(client, "/people/new")
        for action in ("reactivate", "invitation", "deactivate", "roles"):
            response = client.post(f"/people/{person.id}/{action}",
                                   data={"csrf_token": token, "reason": "Left", "roles": ["learner"]})
            assert response.status_code == 404, action
    db.session.expire_all()
    assert camden.active and camden.roles == {Role.LEARNER}
    assert hackney_admin.roles == {Role.ADMIN}
    assert count(OutboundEmail) == 0
    assert client.get("/people/999999").status_code == 404


def test_a_coordinator_invites_people_into_their_own_organisations_only(client, hackney_coordinator):
    page = client.get("/people/new")
    assert set(select_options(page, "organisation")) == {"Select an organisation", "London Borough of Hackney"}
    assert "admin" not in checkbox_values(page, "roles")
    assert checkbox_values(page, "scope") == {org_id(HACKNEY)}
    assert "Only for coordinators. Choose at least one." in text_of(page)

    response = invite(client, organisation=org_id(CAMDEN))
    assert response.status_code == 200
    assert field_errors(response) == {"organisation": "Not a valid choice."}
    assert person_by_email("sam@example.org") is None

    response = invite(client)
    assert response.status_code == 302
    person = person_by_email("sam@example.org")
    assert person.organisation.code == HACKNEY
    [invitation] = db.session.scalars(select(OutboundEmail)).all()
    assert "Cora Coordinator has invited you" in invitation.body_text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"roles": ["admin"]}, "roles", "'admin' is not a valid choice for this field."),
        ({"roles": ["coordinator"], "scope": ["__camden__"]}, "scope",
         "'__camden__' is not a valid choice for this field."),
        ({"roles": ["coordinator"], "scope": []}, "scope", "Choose the organisations this coordinator covers"),
    ],
    ids=["admin", "scope-outside", "programme-wide"],
)
def test_a_coordinator_cannot_grant_more_than_they_have(client, hackney_coordinator, fields, field, message):
    camden_id = org_id(CAMDEN)
    fields = {k: [camden_id if v == "__camden__" else v for v in value] for k, value in fields.items()}
    response = invite(client, **fields)
    assert response.status_code == 200
    assert field_errors(response) == {field: message.replace("__camden__", camden_id)}
    assert person_by_email("sam@example.org") is None
    assert count(OutboundEmail) == 0


def test_a_coordinator_can_make_a_coordinator_of_their_own_organisation(client, hackney_coordinator):
    response = invite(client, roles=["coordinator", "supervisor"], scope=[org_id(HACKNEY)])
    assert response.status_code == 302
    assert person_by_email("sam@example.org").coordinator_scope_ids == {organisation(HACKNEY).id}


def test_a_coordinator_cannot_make_someone_an_admin_by_changing_roles(client, hackney_coordinator):
    learner = make_person("hana@example.org", name="Hana Hackney")
    page = client.get(f"/people/{learner.id}/roles")
    assert page.status_code == 200
    assert "admin" not in checkbox_values(page, "roles")
    response = post_form(client, f"/people/{learner.id}/roles", {"roles": ["admin"]})
    assert response.status_code == 200
    assert field_errors(response) == {"roles": "'admin' is not a valid choice for this field."}
    response = post_form(client, f"/people/{learner.id}/roles", {"roles": ["coordinator"], "scope": [org_id(CAMDEN)]})
    assert field_errors(response) == {"scope": f"'{org_id(CAMDEN)}' is not a valid choice for this field."}
    assert person_by_email("hana@example.org").roles == {Role.LEARNER}
    assert events("person.roles_changed") == []


def test_admin_changes_someones_roles_and_the_change_is_recorded(client, signed_in_admin):
    person = make_person("sam@example.org", name="Sam Taylor")
    page = client.get(f"/people/{person.id}/roles")
    assert page.status_code == 200
    assert page_title(page) == "Change roles for Sam Taylor – Pathways"
    assert re.search(r'<input[^>]*name="roles"[^>]*value="learner"[^>]*checked', html_of(page))

    response = post_form(client, f"/people/{person.id}/roles",
                         {"roles": ["apprentice", "coordinator"], "scope": [org_id(CAMDEN)]})

    assert response.status_code == 302
    assert response.headers["Location"] == f"/people/{person.id}"
    person = person_by_email("sam@example.org")
    assert person.roles == {Role.APPRENTICE, Role.COORDINATOR}
    assert person.coordinator_scope_ids == {organisation(CAMDEN).id}
    [event] = events("person.roles_changed", person)
    assert event.actor_id == signed_in_admin.id
    assert event.details == {"before": "learner", "after": "apprentice, coordinator (London Borough of Camden)"}
    shown = client.get(f"/people/{person.id}")
    assert "Sam Taylor's roles have been saved." in flash_messages(shown)
    assert "Roles of Sam Taylor changed from learner to apprentice, coordinator (London Borough of Camden)" in (
        text_of(shown))

    # Saving the same roles again records nothing new.
    post_form(client, f"/people/{person.id}/roles", {"roles": ["apprentice", "coordinator"],
                                                     "scope": [org_id(CAMDEN)]})
    assert len(events("person.roles_changed", person)) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"roles": []}, {"roles": "Select at least one role"}),
        ({"roles": ["learner"], "scope": ["__camden__"]},
         {"scope": "Only coordinators have organisations to coordinate"}),
    ],
    ids=["no-role", "scope-without-coordinator"],
)
def test_bad_role_changes_are_refused(client, signed_in_admin, fields, message):
    person = make_person("sam@example.org")
    fields = {k: [org_id(CAMDEN) if v == "__camden__" else v for v in value] for k, value in fields.items()}
    response = post_form(client, f"/people/{person.id}/roles", fields)
    assert response.status_code == 200
    assert field_errors(response) == message
    assert person_by_email("sam@example.org").roles == {Role.LEARNER}
    assert events("person.roles_changed") == []


def test_the_only_admin_cannot_remove_their_own_admin_role(client, signed_in_admin):
    response = post_form(client, f"/people/{signed_in_admin.id}/roles", {"roles": ["coordinator"]})
    assert response.status_code == 200
    assert field_errors(response) == {"roles": "You cannot remove your own admin role; ask another admin"}
    assert person_by_email("admin@example.org").roles == {Role.ADMIN}


def test_an_admin_may_take_admin_from_another_admin_but_not_from_themselves(client, signed_in_admin):
    other = make_person("other.admin@example.org", name="Olu Admin", roles=(Role.ADMIN,))
    response = post_form(client, f"/people/{signed_in_admin.id}/roles", {"roles": ["learner"]})
    assert field_errors(response) == {"roles": "You cannot remove your own admin role; ask another admin"}

    response = post_form(client, f"/people/{other.id}/roles", {"roles": ["learner"]})
    assert response.status_code == 302
    assert person_by_email("other.admin@example.org").roles == {Role.LEARNER}


def test_pathways_always_keeps_an_active_admin(signed_in_admin):
    # Only the command line acts without being an admin itself, so only there can this rule be reached.
    other = make_person("other.admin@example.org", roles=(Role.ADMIN,))
    accounts.deactivate_person(None, other, "Left")
    db.session.commit()
    admin = person_by_email("admin@example.org")
    with pytest.raises(ServiceError, match="Pathways must keep at least one active admin"):
        accounts.change_roles(None, admin, [Role.LEARNER], [])
    db.session.rollback()
    with pytest.raises(ServiceError, match="Pathways must keep at least one active admin"):
        accounts.deactivate_person(None, admin, "Testing")
    db.session.rollback()
    admin = person_by_email("admin@example.org")
    assert admin.active and admin.roles == {Role.ADMIN}


# Deactivating and reactivating ----------------------------------------------------------------------


def test_deactivating_someone_signs_them_out_and_keeps_their_record(app, client, signed_in_admin):
    person = make_person("sam@example.org", name="Sam Taylor")
    their_browser = app.test_client()
    sign_in(their_browser, person)
    assert is_signed_in(their_browser)

    page = client.get(f"/people/{person.id}/deactivate")
    assert page.status_code == 200
    response = post_form(client, f"/people/{person.id}/deactivate", {"reason": "Left the council"})

    assert response.status_code == 302
    assert response.headers["Location"] == f"/people/{person.id}"
    person = person_by_email("sam@example.org")
    assert person is not None and not person.active and person.deactivated_at is not None
    [event] = events("person.deactivated", person)
    assert event.actor_id == signed_in_admin.id
    assert event.details == {"reason": "Left the council"}
    shown = client.get(f"/people/{person.id}")
    assert "Sam Taylor's account has been deactivated. Their records are kept." in flash_messages(shown)
    assert "Deactivated" in text_of(shown) and "Reactivate account" in text_of(shown)

    # Their open session has ended and they cannot sign in again.
    assert not is_signed_in(their_browser)
    again = post_form(their_browser, "/sign-in", {"email": "sam@example.org", "password": PASSWORD})
    assert again.status_code == 200
    assert not is_signed_in(their_browser)

    # They leave the list of active people but stay in the records.
    assert "Sam Taylor" not in text_of(client.get("/people"))
    assert "Sam Taylor" in text_of(client.get("/people?status=deactivated"))
    assert "Sam Taylor" in text_of(client.get("/people?status=all"))


def test_deactivating_needs_a_reason(client, signed_in_admin):
    person = make_person("sam@example.org")
    for reason in ("", "   "):
        response = post_form(client, f"/people/{person.id}/deactivate", {"reason": reason})
        assert response.status_code == 200
        assert field_errors(response) == {"reason": "Enter why you are deactivating this account"}
    assert person_by_email("sam@example.org").active
    assert events("person.deactivated") == []


def test_nobody_can_deactivate_themselves(client, signed_in_admin):
    make_person("other.admin@example.org", roles=(Role.ADMIN,))
    assert "Deactivate account" not in text_of(client.get(f"/people/{signed_in_admin.id}"))
    response = post_form(client, f"/people/{signed_in_admin.id}/deactivate", {"reason": "Leaving"})
    assert response.status_code == 200
    assert field_errors(response) == {"reason": "You cannot deactivate your own account"}
    assert person_by_email("admin@example.org").active
    assert is_signed_in(client)


def test_a_coordinator_cannot_deactivate_themselves(client, hackney_coordinator):
    response = post_form(client, f"/people/{hackney_coordinator.id}/deactivate", {"reason": "Leaving"})
    assert field_errors(response) == {"reason": "You cannot deactivate your own account"}
    assert person_by_email("coordinator@example.org").active


def test_a_coordinator_deactivates_and_reactivates_someone_in_their_organisation(app, client, hackney_coordinator):
    person = make_person("sam@example.org", name="Sam Taylor")
    assert post_form(client, f"/people/{person.id}/deactivate", {"reason": "Moved on"}).status_code == 302
    assert not person_by_email("sam@example.org").active

    response = post_form(client, f"/people/{person.id}/reactivate", token_from=f"/people/{person.id}")

    assert response.status_code == 302
    person = person_by_email("sam@example.org")
    assert person.active and person.deactivated_at is None
    [event] = events("person.reactivated", person)
    assert event.actor_id == hackney_coordinator.id
    shown = client.get(f"/people/{person.id}")
    assert "Sam Taylor's account has been reactivated." in flash_messages(shown)
    assert "Deactivate account" in text_of(shown)
    # They can sign in again.
    sign_in(app.test_client(), person)


def test_deactivating_twice_or_reactivating_an_active_account_is_refused(client, signed_in_admin):
    person = make_person("sam@example.org", name="Sam Taylor")
    post_form(client, f"/people/{person.id}/reactivate", token_from=f"/people/{person.id}")
    assert "Sam Taylor's account is already active" in flash_messages(client.get(f"/people/{person.id}"))
    assert events("person.reactivated") == []

    post_form(client, f"/people/{person.id}/deactivate", {"reason": "Left"})
    response = post_form(client, f"/people/{person.id}/deactivate", {"reason": "Left again"})
    assert field_errors(response) == {"reason": "Sam Taylor's account is already deactivated"}
    assert len(events("person.deactivated")) == 1


def test_reactivating_without_the_form_token_changes_nothing(client, signed_in_admin):
    person = make_person("sam@example.org")
    post_form(client, f"/people/{person.id}/deactivate", {"reason": "Left"})
    response = client.post(f"/people/{person.id}/reactivate")
    assert response.status_code == 400
    assert not person_by_email("sam@example.org").active


# The list of people ---------------------------------------------------------------------------------


def test_the_list_pages_searches_and_filters(client, signed_in_admin):
    for number in range(1, 31):
        make_person(f"person{number:02}@example.org", name=f"Person {number:02}",
                    roles=(Role.SUPERVISOR,) if number % 10 == 0 else (Role.LEARNER,),
                    organisation_code=CAMDEN if number > 27 else HACKNEY, password=None)

    first = client.get("/people")
    assert first.status_code == 200
    page = text_of(first)
    assert "31 people" in page
    assert "Showing 1 to 25 of 31" in page
    assert "Alex Admin" in page and "Person 24" in page and "Person 25" not in page
    assert 'href="/people?page=2' in html_of(first)

    second = text_of(client.get("/people?page=2"))
    assert "Showing 26 to 31 of 31" in second
    assert "Person 24" not in second and "Person 25" in second and "Person 30" in second
    assert "Person 01" not in second

    # Beyond the last page: an empty page, not an error.
    beyond = client.get("/people?page=9")
    assert beyond.status_code == 200
    assert "No people match these filters." in text_of(beyond)

    # Search by name (any case) or by part of the email address.
    found = text_of(client.get("/people?q=person+07"))
    assert "1 person" in found and "Person 07" in found and "Person 08" not in found
    found = text_of(client.get("/people?q=PERSON12%40EXAMPLE"))
    assert "Person 12" in found and "1 person" in found
    assert "No people match these filters." in text_of(client.get("/people?q=nobody-like-this"))

    # Filter by role and by organisation, and the filters stay in the page links.
    by_role = text_of(client.get("/people?role=supervisor"))
    assert "3 people" in by_role and "Person 10" in by_role and "Person 20" in by_role and "Person 30" in by_role
    by_organisation = text_of(client.get(f"/people?organisation={org_id(CAMDEN)}"))
    assert "3 people" in by_organisation and "Person 28" in by_organisation and "Person 01" not in by_organisation
    both = text_of(client.get(f"/people?organisation={org_id(CAMDEN)}&role=supervisor"))
    assert "1 person" in both and "Person 30" in both
    searched = client.get("/people?q=Person&role=learner")
    assert "27 people" in text_of(searched)
    assert re.search(r'href="/people\?page=2&amp;q=Person&amp;[^"]*role=learner', html_of(searched))

    # Nonsense in the filters is ignored rather than an error.
    assert client.get("/people?role=wizard&status=zombie&organisation=abc").status_code == 200
    assert "31 people" in text_of(client.get("/people?role=wizard&status=zombie"))


def test_a_borough_coordinator_cannot_change_a_coordinator_whose_scope_is_wider(client, hackney_coordinator):
    programme_wide = make_coordinator("wide@example.org", scope=())
    two_boroughs = make_coordinator("two@example.org", scope=(HACKNEY, CAMDEN))
    for person in (programme_wide, two_boroughs):
        for path in (f"/people/{person.id}", f"/people/{person.id}/roles", f"/people/{person.id}/deactivate"):
            assert client.get(path).status_code == 404, path
        token = csrf_token(client, "/people/new")
        for action in ("deactivate", "roles"):
            response = client.post(f"/people/{person.id}/{action}",
                                   data={"csrf_token": token, "reason": "Left", "roles": ["learner"]})
            assert response.status_code == 404, action
    db.session.expire_all()
    assert programme_wide.active and programme_wide.coordinator_scope_ids is None
    assert two_boroughs.active and len(two_boroughs.coordinator_scope_ids) == 2
    with pytest.raises(ServiceError, match="You cannot change this person's roles"):
        accounts.change_roles(hackney_coordinator, programme_wide, [Role.LEARNER], [])


def test_a_borough_coordinator_manages_a_fellow_coordinator_of_their_own_borough(client, hackney_coordinator):
    fellow = make_coordinator("fellow@example.org", scope=(HACKNEY,))
    assert client.get(f"/people/{fellow.id}/roles").status_code == 200
