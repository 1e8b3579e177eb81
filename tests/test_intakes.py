"""Intakes: adding and changing them, the list with apprentices counted by status, an intake's apprentices as
the viewer may see them, and who may use these pages."""

from __future__ import annotations

import re
from datetime import date
from html import unescape

import pytest
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import ApprenticeshipStatus, AuditEvent, Intake, Role
from app.services import ServiceError, intakes
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_intake,
    make_placement,
    make_standard_version,
    make_supervisor,
)
from tests.conftest import csrf_token, make_person, post_form, sign_in
from tests.pages import field_error, html_of, page_title, text_of

HACKNEY, TOWER_HAMLETS, ISLINGTON, LAMBETH = "E09000012", "E09000030", "E09000019", "E09000022"


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def error_summary(response) -> list[str]:
    block = re.search(r'<div class="govuk-error-summary".*?</ul>', html_of(response), re.S)
    if not block:
        return []
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", item)).split())
            for item in re.findall(r"<li>(.*?)</li>", block.group(0), re.S)]


@pytest.fixture
def coordinator(client):
    person = make_coordinator(scope=())
    sign_in(client, person)
    return person


def intake_form(person, **overrides) -> dict:
    data = {"name": "September 2026", "starts_on": ["7", "9", "2026"], "coordinator": str(person.id)}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# Adding and changing -------------------------------------------------------------------------------


def test_a_coordinator_adds_an_intake(client, coordinator):
    page = client.get("/intakes/new")
    assert page.status_code == 200
    assert page_title(page) == "Add an intake – Pathways"
    # The coordinator adding it is chosen to begin with.
    assert re.search(rf'<option[^>]*value="{coordinator.id}"[^>]*selected', html_of(page))

    response = post_form(client, "/intakes/new", intake_form(coordinator, name="  September   2026 "))

    intake = db.session.scalar(select(Intake))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/intakes/{intake.id}"
    assert (intake.name, intake.starts_on, intake.coordinator_id) == ("September 2026", date(2026, 9, 7),
                                                                      coordinator.id)
    audit_event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "intake.created"))
    assert (audit_event.actor_id, audit_event.subject_id) == (coordinator.id, intake.id)
    assert "The intake September 2026 has been added." in text_of(client.get(f"/intakes/{intake.id}"))


def test_another_coordinator_can_be_chosen(client, coordinator):
    other = make_coordinator("other@example.org", scope=(LAMBETH,), organisation_code=LAMBETH)
    response = post_form(client, "/intakes/new", intake_form(other))
    assert response.status_code == 302
    assert db.session.scalar(select(Intake)).coordinator_id == other.id


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"name": " "}, "name", "Enter a name for the intake, like 'September 2025'"),
    ({"name": "x" * 101}, "name", "The intake's name must be 100 characters or fewer"),
    ({"name": "march 2026"}, "name", "There is already an intake called march 2026: choose another name"),
    ({"starts_on": None}, "starts_on", "Enter the date the intake starts"),
    ({"starts_on": ["31", "2", "2026"]}, "starts_on", "Start date must be a real date, like 27 3 2027"),
    ({"starts_on": ["1", "", "2026"]}, "starts_on", "Start date must include a month"),
    ({"coordinator": ""}, "coordinator", "Select the intake's coordinator"),
    ({"coordinator": "999999"}, "coordinator", "Select the intake's coordinator"),
])
def test_bad_intake_details_are_explained_beside_the_field(client, coordinator, overrides, field, message):
    make_intake("March 2026", coordinator=coordinator)

    response = post_form(client, "/intakes/new", intake_form(coordinator, **overrides))

    assert response.status_code == 200
    assert field_error(response, field) == message
    assert message in error_summary(response)
    assert page_title(response) == "Error: Add an intake – Pathways"
    assert count(Intake) == 1


def test_someone_who_is_not_a_coordinator_cannot_coordinate_an_intake(client, coordinator):
    supervisor = make_supervisor()
    # Only coordinators are offered; a supervisor's id posted anyway is refused.
    assert f'value="{supervisor.id}"' not in html_of(client.get("/intakes/new"))
    response = post_form(client, "/intakes/new", intake_form(coordinator, coordinator=str(supervisor.id)))
    assert field_error(response, "coordinator") == "Select the intake's coordinator"

    with pytest.raises(ServiceError) as raised:
        intakes.create_intake(coordinator, "Spring", date(2026, 3, 1), supervisor)
    assert (raised.value.field, raised.value.message) == (
        "coordinator", "Sam Supervisor is not a coordinator: select someone with the coordinator role")
    assert count(Intake) == 0


def test_a_deactivated_coordinator_cannot_be_chosen(coordinator):
    other = make_coordinator("gone@example.org")
    other.active = False
    db.session.commit()
    assert other not in intakes.possible_coordinators()
    with pytest.raises(ServiceError) as raised:
        intakes.create_intake(coordinator, "Spring", date(2026, 3, 1), other)
    assert raised.value.message == "Cora Coordinator's account has been deactivated: select another coordinator"


def test_a_coordinator_changes_an_intake(client, coordinator):
    intake = make_intake("Sept 2026", starts_on=date(2026, 9, 1), coordinator=coordinator)
    other = make_coordinator("other@example.org", scope=(LAMBETH,), organisation_code=LAMBETH)

    page = client.get(f"/intakes/{intake.id}/edit")
    assert page.status_code == 200
    assert page_title(page) == "Change the intake Sept 2026 – Pathways"
    assert re.search(r'id="name"[^>]*value="Sept 2026"', html_of(page))
    assert re.search(r'id="starts_on-year"[^>]*value="2026"', html_of(page))

    response = post_form(client, f"/intakes/{intake.id}/edit", intake_form(other, name="September 2026"))

    assert response.status_code == 302 and response.headers["Location"] == f"/intakes/{intake.id}"
    db.session.refresh(intake)
    assert (intake.name, intake.starts_on, intake.coordinator_id) == ("September 2026", date(2026, 9, 7), other.id)
    audit_event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "intake.updated"))
    assert audit_event.details == {"name": ["Sept 2026", "September 2026"], "starts_on": ["2026-09-01", "2026-09-07"],
                                   "coordinator": [coordinator.email, other.email]}
    assert "The intake September 2026 has been saved." in text_of(client.get(f"/intakes/{intake.id}"))


def test_saving_an_intake_unchanged_records_nothing(client, coordinator):
    intake = make_intake("Sept 2026", starts_on=date(2026, 9, 7), coordinator=coordinator)
    response = post_form(client, f"/intakes/{intake.id}/edit", intake_form(coordinator, name="Sept 2026"))
    assert response.status_code == 302
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "intake.updated")) is None


def test_a_changed_name_must_still_be_unique(client, coordinator):
    make_intake("March 2026", coordinator=coordinator)
    intake = make_intake("Sept 2026", coordinator=coordinator)
    response = post_form(client, f"/intakes/{intake.id}/edit", intake_form(coordinator, name="MARCH 2026"))
    assert response.status_code == 200
    assert field_error(response, "name") == "There is already an intake called MARCH 2026: choose another name"
    assert page_title(response) == "Error: Change the intake Sept 2026 – Pathways"
    db.session.refresh(intake)
    assert intake.name == "Sept 2026"
    # Keeping its own name is fine, in any case.
    response = post_form(client, f"/intakes/{intake.id}/edit", intake_form(coordinator, name="SEPT 2026"))
    assert response.status_code == 302


def test_an_intake_keeps_a_coordinator_who_has_since_lost_the_role(client, coordinator):
    former = make_coordinator("former@example.org")
    intake = make_intake("Sept 2026", coordinator=former)
    former.role_grants.clear()
    db.session.commit()
    page = client.get(f"/intakes/{intake.id}/edit")
    assert re.search(rf'<option[^>]*value="{former.id}"[^>]*selected', html_of(page))
    response = post_form(client, f"/intakes/{intake.id}/edit", intake_form(former, name="September 2026"))
    assert response.status_code == 302


def test_unknown_intakes_are_not_found(client, coordinator):
    assert client.get("/intakes/999999").status_code == 404
    assert client.get("/intakes/999999/edit").status_code == 404


# The list of intakes ------------------------------------------------------------------------------


def test_the_list_counts_apprentices_by_status(client, coordinator):
    version = make_standard_version()
    september = make_intake("September 2025", starts_on=date(2025, 9, 1), coordinator=coordinator)
    make_intake("March 2026", starts_on=date(2026, 3, 2), coordinator=coordinator)
    for status in (ApprenticeshipStatus.ACTIVE, ApprenticeshipStatus.ACTIVE, ApprenticeshipStatus.BREAK_IN_LEARNING,
                   ApprenticeshipStatus.WITHDRAWN):
        make_apprenticeship(standard_version=version, intake=september, status=status, schedule=False)
    make_apprenticeship(standard_version=version, schedule=False)  # in no intake

    page = client.get("/intakes")

    assert page.status_code == 200
    assert page_title(page) == "Intakes – Pathways"
    text = text_of(page)
    assert "2 intakes" in text
    assert "March 2026 2 March 2026 Cora Coordinator 0 None yet" in text
    assert "September 2025 1 September 2025 Cora Coordinator 4 2 active, 1 break in learning, 1 withdrawn" in text
    assert text.index("March 2026") < text.index("September 2025")  # the latest first


def test_a_borough_coordinator_counts_only_their_apprentices(client):
    version = make_standard_version()
    intake = make_intake("September 2025")
    make_apprenticeship(standard_version=version, intake=intake, employer_code=HACKNEY, schedule=False)
    make_apprenticeship(standard_version=version, intake=intake, employer_code=LAMBETH, schedule=False)
    sign_in(client, make_coordinator("hackney@example.org", scope=(HACKNEY,)))
    text = text_of(client.get("/intakes"))
    assert "counted when they are employed by or placed in your organisations" in text
    assert "Cora Coordinator 1 1 active" in text


def test_the_list_is_paginated_and_its_queries_do_not_grow(client, coordinator, app):
    version = make_standard_version()

    def queries_for(path: str) -> int:
        statements = []

        def count_statement(*_args):
            statements.append(1)

        event.listen(db.engine, "before_cursor_execute", count_statement)
        try:
            assert client.get(path).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", count_statement)
        return len(statements)

    first = make_intake("Intake A", coordinator=coordinator)
    make_apprenticeship(standard_version=version, intake=first, schedule=False)
    few = queries_for("/intakes")
    for n in range(30):
        intake = make_intake(f"Intake {n:02d}", starts_on=date(2024, 1, 1 + n % 28), coordinator=coordinator)
        make_apprenticeship(standard_version=version, intake=intake, schedule=False)
    many = queries_for("/intakes")

    assert many == few
    page_one, page_two = text_of(client.get("/intakes")), text_of(client.get("/intakes?page=2"))
    assert "Showing 1 to 25 of 31" in page_one
    assert "Showing 26 to 31 of 31" in page_two


# An intake and its apprentices ---------------------------------------------------------------------


def test_an_intake_lists_its_apprentices_linking_to_their_records(client, coordinator):
    version = make_standard_version("ST0116", title="Software developer")
    intake = make_intake("September 2025", starts_on=date(2025, 9, 1), coordinator=coordinator)
    a = make_apprenticeship(standard_version=version, intake=intake, employer_code=TOWER_HAMLETS,
                            status=ApprenticeshipStatus.BREAK_IN_LEARNING, schedule=False)

    page = client.get(f"/intakes/{intake.id}")

    assert page.status_code == 200
    assert page_title(page) == "Intake: September 2025 – Pathways"
    text = text_of(page)
    assert "Start date 1 September 2025" in text
    assert "Coordinator Cora Coordinator" in text
    assert (f"1 apprentice Apprentice Standard Employer Status {a.apprentice.name} Software developer (level 4), "
            f"ST0116 v1.1 London Borough of Tower Hamlets Break in learning") in text
    assert f'href="/apprenticeships/{a.id}"' in html_of(page)
    assert f'href="/intakes/{intake.id}/edit"' in html_of(page)


def test_a_borough_coordinator_sees_only_the_apprentices_of_their_organisations(client):
    version = make_standard_version()
    intake = make_intake("September 2025")
    employed = make_apprenticeship(standard_version=version, intake=intake, employer_code=HACKNEY, schedule=False)
    placed = make_apprenticeship(standard_version=version, intake=intake, employer_code=ISLINGTON, schedule=False)
    make_placement(placed, host_code=HACKNEY)
    elsewhere = make_apprenticeship(make_apprentice("lambeth@example.org", name="Lena Lambeth"),
                                    standard_version=version, intake=intake, employer_code=LAMBETH, schedule=False)
    make_placement(elsewhere, host_code=TOWER_HAMLETS)
    sign_in(client, make_coordinator("hackney@example.org", scope=(HACKNEY,)))

    page = client.get(f"/intakes/{intake.id}")

    html, text = html_of(page), text_of(page)
    assert "2 apprentices employed by or placed in your organisations" in text
    assert f'href="/apprenticeships/{employed.id}"' in html
    assert f'href="/apprenticeships/{placed.id}"' in html
    assert f'href="/apprenticeships/{elsewhere.id}"' not in html
    assert elsewhere.apprentice.name not in text

    # To a coordinator of none of them, the intake is not there.
    tower_hamlets = make_coordinator("tower-hamlets@example.org", scope=(TOWER_HAMLETS,))
    other = make_apprenticeship(standard_version=version, intake=make_intake("Spring"), employer_code=LAMBETH,
                                schedule=False)
    client.post("/sign-out", data={"csrf_token": csrf_token(client, "/")})
    sign_in(client, tower_hamlets)
    assert client.get(f"/intakes/{other.intake_id}").status_code == 404
    assert "Spring" not in text_of(client.get("/intakes"))


def test_programme_wide_coordinators_and_admins_see_everyone_in_an_intake(client, signed_in_admin):
    version = make_standard_version()
    intake = make_intake("September 2025")
    for code in (HACKNEY, LAMBETH, ISLINGTON):
        make_apprenticeship(standard_version=version, intake=intake, employer_code=code, schedule=False)
    assert "3 apprentices Apprentice" in text_of(client.get(f"/intakes/{intake.id}"))
    assert len(intakes.intake_apprenticeships(intake, None)) == 3


# Access ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("roles", [(Role.LEARNER,), (Role.APPRENTICE,), (Role.SUPERVISOR,)])
def test_only_coordinators_and_admins_use_intakes(client, roles):
    intake = make_intake("September 2025")
    person = make_person("someone@example.org", roles=roles)
    sign_in(client, person)
    for path in ("/intakes", "/intakes/new", f"/intakes/{intake.id}", f"/intakes/{intake.id}/edit"):
        assert client.get(path).status_code == 403, path
    token = csrf_token(client, "/")
    form = {"name": "Hijack", "starts_on": ["1", "1", "2026"], "coordinator": str(intake.coordinator_id),
            "csrf_token": token}
    assert client.post("/intakes/new", data=form).status_code == 403
    assert client.post(f"/intakes/{intake.id}/edit", data=form).status_code == 403
    assert [i.name for i in db.session.scalars(select(Intake))] == ["September 2025"]


def test_anonymous_people_are_sent_to_sign_in(client):
    intake = make_intake("September 2025")
    for path in ("/intakes", "/intakes/new", f"/intakes/{intake.id}", f"/intakes/{intake.id}/edit"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/sign-in" in response.headers["Location"]


# Who may change an intake -------------------------------------------------------------------------------------

LEWISHAM = "E09000023"


def test_a_borough_coordinator_cannot_take_over_another_boroughs_intake(client):
    hackney_intake = make_intake("Hackney September", coordinator=make_coordinator("hackney@example.org"))
    make_apprenticeship(make_apprentice("amal@example.org"), intake=hackney_intake)
    lewisham = make_coordinator("lewisham@example.org", scope=(LEWISHAM,), organisation_code=LEWISHAM)
    sign_in(client, lewisham)

    assert client.get(f"/intakes/{hackney_intake.id}").status_code == 404
    assert client.get(f"/intakes/{hackney_intake.id}/edit").status_code == 404
    refused = client.post(f"/intakes/{hackney_intake.id}/edit", data={
        **intake_form(lewisham, name="Mine now"), "csrf_token": csrf_token(client, "/intakes")})
    assert refused.status_code == 404
    db.session.expire_all()
    assert (hackney_intake.name, hackney_intake.coordinator.email) == ("Hackney September", "hackney@example.org")
    with pytest.raises(ServiceError, match="only its coordinator, a programme-wide coordinator or an admin"):
        intakes.update_intake(lewisham, hackney_intake, name="Mine now", starts_on=hackney_intake.starts_on,
                              coordinator=lewisham)


def test_a_borough_coordinator_sees_but_cannot_change_a_shared_intake_they_do_not_coordinate(client):
    shared = make_intake("Shared", coordinator=make_coordinator("wide@example.org", scope=()))
    make_apprenticeship(make_apprentice("amal@example.org"), intake=shared, employer_code=LEWISHAM)
    lewisham = make_coordinator("lewisham@example.org", scope=(LEWISHAM,), organisation_code=LEWISHAM)
    sign_in(client, lewisham)

    page = client.get(f"/intakes/{shared.id}")
    assert page.status_code == 200 and "Change the intake" not in text_of(page)
    assert client.get(f"/intakes/{shared.id}/edit").status_code == 403


def test_the_intakes_own_coordinator_changes_it(client):
    hackney = make_coordinator("hackney@example.org")
    mine = make_intake("Hackney September", coordinator=hackney)
    sign_in(client, hackney)
    assert "Change the intake" in text_of(client.get(f"/intakes/{mine.id}"))
    response = post_form(client, f"/intakes/{mine.id}/edit", intake_form(hackney, name="Hackney October"))
    assert response.status_code == 302
