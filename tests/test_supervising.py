"""Deciding off-the-job hours: the supervisor of the placement that day or a coordinator approves or rejects
(never their own), one at a time or many at once (all or nothing), from the supervisor's page, whose
queries do not grow with the queue."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from app.extensions import db
from app.models import AuditEvent, OtjActivity, OtjStatus, Role
from app.services import ServiceError, clock
from app.services import off_the_job as otj
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_otj,
    make_placement,
    make_standard_version,
    make_supervisor,
)
from tests.conftest import csrf_token, make_person, post_form, sign_in
from tests.pages import field_error, html_of, page_title, text_of

TOWER_HAMLETS = "E09000030"


def days_ago(n: int):
    return clock.today() - timedelta(days=n)


def status_of(activity) -> OtjStatus:
    db.session.expire_all()
    return db.session.get(OtjActivity, activity.id).status


@pytest.fixture
def rotation():
    """An apprentice on two placements in turn, with a different supervisor on each."""
    apprentice = make_apprentice()
    apprenticeship = make_apprenticeship(apprentice, standard_version=make_standard_version())
    first_supervisor = make_supervisor("first@example.org")
    second_supervisor = make_supervisor("second@example.org")
    first = make_placement(apprenticeship, supervisor=first_supervisor, ends_on=days_ago(101))
    second = make_placement(apprenticeship, supervisor=second_supervisor, starts_on=days_ago(100))
    return apprenticeship, apprentice, (first_supervisor, first), (second_supervisor, second)


def activity_path(activity) -> str:
    return f"/apprenticeships/{activity.apprenticeship_id}/off-the-job/{activity.id}"


def decide(client, activity, decision: str, reason: str = "", token_from: str | None = None):
    return post_form(client, activity_path(activity) + "/decision", {"decision": decision, "reason": reason},
                     token_from=token_from or activity_path(activity))


# One entry at a time ----------------------------------------------------------------------------


def test_the_supervisor_of_that_days_placement_approves(client, rotation):
    apprenticeship, _, _, (supervisor, placement) = rotation
    activity = make_otj(apprenticeship, on=days_ago(10))
    assert activity.placement_id == placement.id
    sign_in(client, supervisor)

    page = client.get(activity_path(activity))
    assert page.status_code == 200
    assert "Do you approve these hours?" in text_of(page)

    response = decide(client, activity, "approve")

    assert response.status_code == 302
    db.session.expire_all()
    decided = db.session.get(OtjActivity, activity.id)
    assert (decided.status, decided.decided_by_id) == (OtjStatus.APPROVED, supervisor.id)
    assert decided.decided_at is not None
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.subject_type == "otjactivity",
                                                             AuditEvent.subject_id == activity.id)) == "otj.approved"
    assert "have been approved" in text_of(client.get(response.headers["Location"]))


def test_a_supervisor_of_another_placement_of_the_same_apprentice_cannot_decide(client, rotation):
    apprenticeship, _, (first_supervisor, _), _ = rotation
    activity = make_otj(apprenticeship, on=days_ago(10))  # during the second placement
    sign_in(client, first_supervisor)

    page = client.get(activity_path(activity))
    assert page.status_code == 200  # a former supervisor still sees the record, read only
    assert "Do you approve these hours?" not in text_of(page)
    assert decide(client, activity, "approve", token_from="/").status_code == 403
    assert status_of(activity) is OtjStatus.SUBMITTED
    with pytest.raises(ServiceError, match="only the supervisor of the placement that day or a coordinator can"):
        otj.approve(first_supervisor, [activity])


def test_the_apprentice_cannot_approve_their_own_hours(client, rotation):
    apprenticeship, apprentice, *_ = rotation
    activity = make_otj(apprenticeship, on=days_ago(10))
    sign_in(client, apprentice)
    assert "Do you approve these hours?" not in text_of(client.get(activity_path(activity)))
    assert decide(client, activity, "approve", token_from=activity_path(activity)).status_code == 403
    assert status_of(activity) is OtjStatus.SUBMITTED


def test_a_coordinator_approves_but_not_hours_they_logged(client, rotation):
    apprenticeship, *_ = rotation
    coordinator = make_coordinator()
    theirs = make_otj(apprenticeship, on=days_ago(10), logged_by=coordinator, description="Logged on behalf")
    activity = make_otj(apprenticeship, on=days_ago(11))
    sign_in(client, coordinator)

    assert decide(client, activity, "approve").status_code == 302
    assert status_of(activity) is OtjStatus.APPROVED
    assert "Do you approve these hours?" not in text_of(client.get(activity_path(theirs)))
    with pytest.raises(ServiceError, match="You cannot approve hours you logged yourself"):
        otj.approve(coordinator, [theirs])


def test_a_coordinator_of_another_borough_gets_404(client, rotation):
    apprenticeship, *_ = rotation
    activity = make_otj(apprenticeship, on=days_ago(10))
    sign_in(client, make_coordinator("th@example.org", scope=(TOWER_HAMLETS,), organisation_code=TOWER_HAMLETS))
    assert client.get(activity_path(activity)).status_code == 404
    assert decide(client, activity, "approve", token_from="/").status_code == 404


def test_an_activity_of_another_apprenticeship_is_not_found(client, rotation):
    apprenticeship, _, _, (supervisor, _) = rotation
    other = make_apprenticeship()
    make_placement(other, supervisor=supervisor)
    activity = make_otj(other, on=days_ago(3))
    sign_in(client, supervisor)
    assert client.get(f"/apprenticeships/{apprenticeship.id}/off-the-job/{activity.id}").status_code == 404
    response = post_form(client, f"/apprenticeships/{apprenticeship.id}/off-the-job/{activity.id}/decision",
                         {"decision": "approve"}, token_from="/")
    assert response.status_code == 404


def test_rejecting_needs_a_reason(client, new_client, rotation):
    apprenticeship, apprentice, _, (supervisor, _) = rotation
    activity = make_otj(apprenticeship, on=days_ago(10))
    sign_in(client, supervisor)

    response = decide(client, activity, "reject", reason="   ")

    assert response.status_code == 400
    assert field_error(response, "reason") == ("Enter the reason for rejecting these hours, so the apprentice can "
                                               "put them right")
    assert page_title(response).startswith("Error: ")
    assert status_of(activity) is OtjStatus.SUBMITTED

    assert decide(client, activity, "reject", reason="This was a team meeting, not training").status_code == 302
    db.session.expire_all()
    rejected = db.session.get(OtjActivity, activity.id)
    assert (rejected.status, rejected.rejection_reason) == (OtjStatus.REJECTED, "This was a team meeting, not training")
    browser = new_client()
    sign_in(browser, apprentice)
    assert "This was a team meeting, not training" in text_of(browser.get(activity_path(activity)))


def test_a_decision_must_be_chosen_and_only_once(client, rotation):
    apprenticeship, _, _, (supervisor, _) = rotation
    activity = make_otj(apprenticeship, on=days_ago(10))
    sign_in(client, supervisor)
    response = decide(client, activity, "")
    assert field_error(response, "decision") == "Select whether to approve or reject these hours"
    assert decide(client, activity, "approve").status_code == 302
    assert status_of(activity) is OtjStatus.APPROVED
    with pytest.raises(ServiceError, match="have already been approved"):
        otj.reject(supervisor, db.session.get(OtjActivity, activity.id), "Changed my mind")


# The supervisor's page -------------------------------------------------------------------------------


def test_the_queue_holds_only_the_hours_of_my_placements(client, new_client, rotation):
    apprenticeship, _, (first_supervisor, _), (second_supervisor, _) = rotation
    early = make_otj(apprenticeship, on=days_ago(150), description="During the first placement")
    late = make_otj(apprenticeship, on=days_ago(10), description="During the second placement")
    make_otj(apprenticeship, on=days_ago(11), status=OtjStatus.APPROVED, description="Already approved")
    sign_in(client, second_supervisor)

    page = client.get("/supervising")

    assert page.status_code == 200
    assert page_title(page) == "Apprentices and hours to approve – Pathways"
    html = html_of(page)
    assert f'id="queue-{late.id}"' in html and f'id="queue-{early.id}"' not in html
    assert "Already approved" not in text_of(page)
    assert "1 entry waiting, oldest first" in text_of(page)
    assert "Current" in text_of(page)
    browser = new_client()
    sign_in(browser, first_supervisor)
    page = browser.get("/supervising")
    assert f'id="queue-{early.id}"' in html_of(page) and f'id="queue-{late.id}"' not in html_of(page)
    assert "Ended (read only)" in text_of(page)


def test_a_coordinator_sees_the_hours_of_records_in_scope(client, rotation):
    apprenticeship, *_ = rotation
    in_scope = make_otj(apprenticeship, on=days_ago(10))
    elsewhere = make_apprenticeship(employer_code=TOWER_HAMLETS)
    make_placement(elsewhere, host_code=TOWER_HAMLETS)
    out_of_scope = make_otj(elsewhere, on=days_ago(10))
    sign_in(client, make_coordinator())
    html = html_of(client.get("/supervising"))
    assert f'id="queue-{in_scope.id}"' in html and f'id="queue-{out_of_scope.id}"' not in html


@pytest.mark.parametrize("role", [Role.APPRENTICE, Role.LEARNER])
def test_people_who_neither_supervise_nor_coordinate_cannot_use_the_page(client, role):
    sign_in(client, make_person("someone@example.org", roles=(role,)))
    assert client.get("/supervising").status_code == 403
    assert post_form(client, "/supervising/approve", {"activity_ids": ["1"]}, token_from="/").status_code == 403


def test_bulk_approval(client, rotation):
    apprenticeship, _, _, (supervisor, _) = rotation
    entries = [make_otj(apprenticeship, on=days_ago(n)) for n in (3, 4, 5)]
    sign_in(client, supervisor)

    response = post_form(client, "/supervising/approve", {"activity_ids": [str(entries[0].id), str(entries[1].id)]},
                         token_from="/supervising")

    assert response.status_code == 302
    assert [status_of(a) for a in entries] == [OtjStatus.APPROVED, OtjStatus.APPROVED, OtjStatus.SUBMITTED]
    assert "Approved 2 entries of off-the-job hours (4 hours in all)." in text_of(client.get("/supervising"))


def test_bulk_approval_is_all_or_nothing(client, rotation):
    apprenticeship, _, (first_supervisor, _), (supervisor, _) = rotation
    mine = make_otj(apprenticeship, on=days_ago(3))
    not_mine = make_otj(apprenticeship, on=days_ago(150))  # the first placement's supervisor decides it
    done = make_otj(apprenticeship, on=days_ago(4), status=OtjStatus.APPROVED)
    sign_in(client, supervisor)

    response = post_form(client, "/supervising/approve", {"activity_ids": [str(mine.id), str(not_mine.id)]},
                         token_from="/supervising")

    assert response.status_code == 400
    assert field_error(response, "activity_ids") == (
        f"You cannot approve the hours Ada Apprentice logged on {days_ago(150):%-d %B %Y}: only the supervisor of "
        "the placement that day or a coordinator can. Nothing was approved")
    assert "There is a problem" in text_of(response)
    assert status_of(mine) is OtjStatus.SUBMITTED and status_of(not_mine) is OtjStatus.SUBMITTED

    response = post_form(client, "/supervising/approve", {"activity_ids": [str(mine.id), str(done.id)]},
                         token_from="/supervising")
    assert field_error(response, "activity_ids") == (
        f"The hours Ada Apprentice logged on {days_ago(4):%-d %B %Y} have already been approved by Sam Supervisor on "
        f"{clock.today():%-d %B %Y}. Nothing was approved")
    assert status_of(mine) is OtjStatus.SUBMITTED

    response = post_form(client, "/supervising/approve", {"activity_ids": [str(mine.id), "999999"]},
                         token_from="/supervising")
    assert field_error(response, "activity_ids") == "One of the selected entries no longer exists. Nothing was approved"
    assert status_of(mine) is OtjStatus.SUBMITTED


def test_bulk_approval_needs_a_selection(client, rotation):
    apprenticeship, _, _, (supervisor, _) = rotation
    make_otj(apprenticeship, on=days_ago(3))
    sign_in(client, supervisor)
    response = client.post("/supervising/approve", data={"csrf_token": csrf_token(client, "/supervising")})
    assert response.status_code == 400
    assert field_error(response, "activity_ids") == "Select the hours to approve"


def test_the_service_refuses_an_empty_batch(app_context):
    with pytest.raises(ServiceError, match="Select the hours to approve"):
        otj.approve(make_coordinator(), [])


@contextmanager
def counting_queries():
    statements: list[str] = []

    def count(_connection, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_the_queue_takes_the_same_number_of_queries_however_long(client):
    supervisor = make_supervisor()
    version = make_standard_version()

    def add_apprentices(how_many: int, entries_each: int):
        for _ in range(how_many):
            apprenticeship = make_apprenticeship(standard_version=version, schedule=False)
            make_placement(apprenticeship, supervisor=supervisor)
            for n in range(entries_each):
                make_otj(apprenticeship, on=days_ago(n + 1), ksbs=version.ksbs[:2])

    add_apprentices(5, 1)
    sign_in(client, supervisor)
    client.get("/supervising")
    with counting_queries() as few:
        small = client.get("/supervising")
    assert "5 entries waiting" in text_of(small)

    add_apprentices(5, 9)
    with counting_queries() as many:
        large = client.get("/supervising")
    assert "50 entries waiting" in text_of(large)
    assert len(many) == len(few), "\n".join(many)
