"""The apprenticeship lifecycle: active ⇄ break in learning, withdrawal, gateway, end-point assessment and
completion; every change recorded with who, when and why, and every other change refused with a reason."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Apprenticeship, ApprenticeshipStatus, AuditEvent, BreakInLearning, OtjStatus, StatusChange
from app.services import ServiceError, apprenticeships, clock, gateway
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_otj,
    make_standard_version,
)
from tests.conftest import post_form, sign_in
from tests.pages import field_error, html_of, page_title, text_of

S = ApprenticeshipStatus


def parts(day: date) -> list[str]:
    return [str(day.day), str(day.month), str(day.year)]


def days_ago(n: int) -> date:
    return clock.today() - timedelta(days=n)


@pytest.fixture
def coordinator(client):
    person = make_coordinator("cora@example.org", scope=("E09000012",))
    sign_in(client, person)
    return person


@pytest.fixture
def version():
    return make_standard_version("ST0116", knowledge=1, skills=1, behaviours=1, otj_minimum_hours=187,
                                 epa_grades=("fail", "pass", "distinction"))


@pytest.fixture
def a(version):
    return make_apprenticeship(make_apprentice("ada@example.org", name="Ada Lovelace"), standard_version=version,
                               starts_on=days_ago(300))


def change(client, a: Apprenticeship, to_status: str, *, on: date | None = None, reason="Agreed at the review",
           grade: str | None = None):
    data = {"to_status": to_status, "effective_on": parts(on or clock.today()), "reason": reason}
    if grade is not None:
        data["grade"] = grade
    return post_form(client, f"/apprenticeships/{a.id}/status", data)


def changes_of(a: Apprenticeship) -> list[StatusChange]:
    return list(db.session.scalars(select(StatusChange).where(StatusChange.apprenticeship_id == a.id)
                                   .order_by(StatusChange.id)))


def set_status(a: Apprenticeship, status: ApprenticeshipStatus) -> None:
    a.status = status
    db.session.commit()


# The transitions table ----------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "allowed"), [
    (S.ACTIVE, [S.BREAK_IN_LEARNING, S.GATEWAY, S.WITHDRAWN]),
    (S.BREAK_IN_LEARNING, [S.ACTIVE, S.WITHDRAWN]),
    (S.GATEWAY, [S.END_POINT_ASSESSMENT, S.ACTIVE]),
    (S.END_POINT_ASSESSMENT, [S.COMPLETED]),
    (S.WITHDRAWN, []),
    (S.COMPLETED, []),
])
def test_allowed_transitions(a, status, allowed):
    set_status(a, status)
    assert apprenticeships.allowed_transitions(a) == allowed


def test_the_status_page_offers_the_allowed_changes_with_their_meaning(client, coordinator, a):
    page = client.get(f"/apprenticeships/{a.id}/status")
    assert page.status_code == 200
    assert page_title(page) == "Change the status of Ada Lovelace's apprenticeship – Pathways"
    text = text_of(page)
    for label in ("Start a break in learning", "Move to gateway", "Withdraw"):
        assert label in text
    assert "not for absences of 4 weeks or less" in text
    assert "Return from the break" not in text
    assert 'id="grade"' not in html_of(page)
    assert 'aria-current="page">Overview</a>' in html_of(page)


# Break in learning -----------------------------------------------------------------------------------


def test_a_break_starts_and_the_return_closes_it_and_moves_the_planned_end(client, coordinator, a):
    old_end = a.planned_end_on
    response = change(client, a, "break_in_learning", on=days_ago(40), reason="Caring responsibilities")
    assert response.status_code == 302
    db.session.refresh(a)
    assert a.status is S.BREAK_IN_LEARNING
    pause = db.session.scalar(select(BreakInLearning))
    assert (pause.apprenticeship_id, pause.starts_on, pause.ends_on, pause.reason) == (
        a.id, days_ago(40), None, "Caring responsibilities")

    refused = change(client, a, "active", on=days_ago(40), reason="Back")
    assert field_error(refused, "effective_on") == (
        f"The return date must be after the break started on {days_ago(40):%-d %B %Y}")

    back = change(client, a, "active", on=days_ago(10), reason="Back at work")
    assert back.status_code == 302
    db.session.refresh(a)
    db.session.refresh(pause)
    assert a.status is S.ACTIVE
    assert pause.ends_on == days_ago(11)
    assert a.planned_end_on == old_end + timedelta(days=30)
    assert f"The planned end date is now {a.planned_end_on:%-d %B %Y}" in text_of(
        client.get(f"/apprenticeships/{a.id}"))
    assert [(c.from_status, c.to_status, c.effective_on, c.reason) for c in changes_of(a)] == [
        (S.ACTIVE, S.BREAK_IN_LEARNING, days_ago(40), "Caring responsibilities"),
        (S.BREAK_IN_LEARNING, S.ACTIVE, days_ago(10), "Back at work"),
    ]
    assert all(c.changed_by_id == coordinator.id for c in changes_of(a))


# Withdrawal ------------------------------------------------------------------------------------------


def test_withdrawal_ends_at_the_last_approved_learning(client, coordinator, a):
    make_otj(a, on=days_ago(50), status=OtjStatus.APPROVED)
    make_otj(a, on=days_ago(30), status=OtjStatus.APPROVED)
    make_otj(a, on=days_ago(20), status=OtjStatus.SUBMITTED)
    make_otj(a, on=days_ago(15), status=OtjStatus.REJECTED)

    no_reason = change(client, a, "withdrawn", reason="")
    assert field_error(no_reason, "reason") == "Enter the reason for the change"

    response = change(client, a, "withdrawn", on=days_ago(5), reason="Left for a job outside the council")
    assert response.status_code == 302
    db.session.refresh(a)
    assert (a.status, a.actual_end_on, a.withdrawal_reason) == (
        S.WITHDRAWN, days_ago(30), "Left for a job outside the council")
    assert changes_of(a)[-1].reason == "Left for a job outside the council"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "apprenticeship.status_changed"))
    assert event.details["actual_end_on"] == days_ago(30).isoformat()
    assert event.details["counts_as_start"] is True
    shown = text_of(client.get(f"/apprenticeships/{a.id}"))
    assert f"Actual end date: {days_ago(30):%-d %B %Y}, the last evidenced learning" in shown
    assert "Withdrawn" in shown


def test_withdrawal_with_no_approved_learning_ends_at_the_start_and_does_not_count_as_a_start(
        client, coordinator, version):
    a = make_apprenticeship(standard_version=version, starts_on=days_ago(20))
    make_otj(a, on=days_ago(10), status=OtjStatus.SUBMITTED)
    assert change(client, a, "withdrawn", reason="Changed their mind").status_code == 302
    db.session.refresh(a)
    assert a.actual_end_on == a.starts_on
    assert changes_of(a)[-1].reason == (
        "Changed their mind (Withdrawn within the first 42 days: this does not count as a start.)")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "apprenticeship.status_changed"))
    assert event.details["counts_as_start"] is False


def test_the_42nd_day_is_the_first_that_counts_as_a_start(coordinator, version):
    start = days_ago(100)
    for last_day, counts in ((start + timedelta(days=41), False), (start + timedelta(days=42), True)):
        a = make_apprenticeship(standard_version=version, starts_on=start)
        make_otj(a, on=last_day, status=OtjStatus.APPROVED)
        apprenticeships.change_status(coordinator, a, S.WITHDRAWN, effective_on=clock.today(), reason="Left")
        assert ("does not count as a start" not in changes_of(a)[-1].reason) is counts


def test_withdrawal_during_a_break_closes_it(coordinator, a):
    apprenticeships.change_status(coordinator, a, S.BREAK_IN_LEARNING, effective_on=days_ago(60), reason="Ill")
    apprenticeships.change_status(coordinator, a, S.WITHDRAWN, effective_on=days_ago(2), reason="Not returning")
    assert a.status is S.WITHDRAWN
    assert a.breaks[-1].ends_on == days_ago(3)


# Gateway, end-point assessment and completion --------------------------------------------------------


def test_gateway_is_refused_with_what_is_missing(client, coordinator, a):
    response = change(client, a, "gateway")
    message = field_error(response, "to_status")
    assert message.startswith("The apprenticeship is not ready for gateway. Still missing: ")
    assert "planned off-the-job hours approved" in message
    assert "No evidence yet for K1, S1, B1" in message
    assert "The employer has not yet agreed the apprentice is ready" in message
    db.session.refresh(a)
    assert a.status is S.ACTIVE


def test_a_ready_apprentice_goes_through_gateway_and_end_point_assessment_to_completion(client, coordinator, a,
                                                                                         version):
    make_otj(a, on=days_ago(20), minutes=187 * 60, status=OtjStatus.APPROVED, ksbs=list(version.ksbs),
             decided_by=coordinator)
    gateway.record_employer_agreement(coordinator, a)
    db.session.commit()
    assert gateway.checklist(a).ready

    assert change(client, a, "gateway", on=days_ago(3), reason="Employer and provider agree").status_code == 302
    db.session.refresh(a)
    assert a.status is S.GATEWAY

    assert change(client, a, "end_point_assessment", on=days_ago(2), reason="Assessment booked").status_code == 302
    db.session.refresh(a)
    assert a.status is S.END_POINT_ASSESSMENT

    page = client.get(f"/apprenticeships/{a.id}/status")
    assert 'id="grade"' in html_of(page)
    assert "Distinction" in text_of(page) and "Merit" not in text_of(page)
    missing = change(client, a, "completed", reason="Passed", grade="")
    assert field_error(missing, "grade") == "Select the grade the apprentice achieved"
    fail = change(client, a, "completed", reason="Failed", grade="fail")
    assert field_error(fail, "grade") == (
        "A fail is not a completion: the apprenticeship stays in end-point assessment for a resit")
    merit = change(client, a, "completed", reason="Passed", grade="merit")
    assert field_error(merit, "grade") == "Select a grade that Software developer allows: pass or distinction"

    done = change(client, a, "completed", on=days_ago(1), reason="Assessment result received", grade="distinction")
    assert done.status_code == 302
    db.session.refresh(a)
    assert (a.status, a.grade, a.actual_end_on) == (S.COMPLETED, "distinction", days_ago(1))
    assert [c.to_status for c in changes_of(a)] == [S.GATEWAY, S.END_POINT_ASSESSMENT, S.COMPLETED]

    shown = text_of(client.get(f"/apprenticeships/{a.id}"))
    assert "Completed Grade: Distinction" in shown
    assert "At gateway to End-point assessment Assessment booked Cora Coordinator" in shown
    closed = client.get(f"/apprenticeships/{a.id}/status")
    assert "A completed apprenticeship cannot go back to active learning" in text_of(closed)
    assert "<form method=\"post\" novalidate>" not in html_of(closed)


def test_gateway_can_go_back_to_learning(client, coordinator, a):
    set_status(a, S.GATEWAY)
    assert change(client, a, "active", reason="Portfolio needs two more projects").status_code == 302
    db.session.refresh(a)
    assert a.status is S.ACTIVE
    assert changes_of(a)[-1].from_status is S.GATEWAY


# Refusals ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "to_status", "message"), [
    (S.ACTIVE, "completed", "An active apprenticeship cannot be completed: gateway and end-point assessment come "
                            "first. From active it can start a break in learning, move to gateway or be withdrawn"),
    (S.ACTIVE, "end_point_assessment", "An active apprenticeship cannot start end-point assessment: gateway comes "
                                       "first."),
    (S.ACTIVE, "active", "The apprenticeship is already active."),
    (S.BREAK_IN_LEARNING, "gateway", "An apprenticeship on a break in learning cannot move to gateway: the "
                                     "apprentice returns from the break first. From break in learning it can go back "
                                     "to active learning or be withdrawn"),
    (S.WITHDRAWN, "active", "A withdrawn apprenticeship cannot be restarted: start a new apprenticeship instead"),
    (S.COMPLETED, "withdrawn", "A completed apprenticeship cannot be withdrawn: it has finished with its grade"),
    (S.END_POINT_ASSESSMENT, "withdrawn", "An apprenticeship in end-point assessment cannot be withdrawn. From "
                                          "end-point assessment it can be completed"),
])
def test_other_changes_are_refused_with_an_explanation(coordinator, a, status, to_status, message):
    set_status(a, status)
    with pytest.raises(ServiceError) as refused:
        apprenticeships.change_status(coordinator, a, S(to_status), effective_on=clock.today(), reason="Because")
    assert refused.value.message.startswith(message)
    assert refused.value.field == "to_status"
    assert a.status is status


def test_a_refused_change_is_explained_beside_the_choice(client, coordinator, a):
    response = change(client, a, "completed", grade="pass")
    assert response.status_code == 200
    assert field_error(response, "to_status").startswith("An active apprenticeship cannot be completed")
    assert page_title(response).startswith("Error: ")


def test_a_withdrawn_apprenticeship_shows_why_it_cannot_change(client, coordinator, a):
    set_status(a, S.WITHDRAWN)
    page = text_of(client.get(f"/apprenticeships/{a.id}/status"))
    assert "A withdrawn apprenticeship cannot be restarted: start a new apprenticeship instead" in page
    response = change(client, a, "active")
    assert response.status_code == 200
    db.session.refresh(a)
    assert a.status is S.WITHDRAWN


def test_the_effective_date_is_checked(client, coordinator, a):
    assert field_error(change(client, a, "break_in_learning", on=clock.today() + timedelta(days=1)),
                       "effective_on") == "The date cannot be in the future: record the change when it happens"
    assert field_error(change(client, a, "break_in_learning", on=a.starts_on - timedelta(days=1)),
                       "effective_on") == f"The date must be on or after the start date, {a.starts_on:%-d %B %Y}"
    apprenticeships.change_status(coordinator, a, S.BREAK_IN_LEARNING, effective_on=days_ago(10), reason="Ill")
    db.session.commit()
    assert field_error(change(client, a, "withdrawn", on=days_ago(11)), "effective_on") == (
        f"The date must be on or after {days_ago(10):%-d %B %Y}, the date of the last status change")
    empty = post_form(client, f"/apprenticeships/{a.id}/status",
                      {"to_status": "withdrawn", "effective_on": ["", "", ""], "reason": "Left"})
    assert field_error(empty, "effective_on") == "Enter the date the change takes effect"
    nothing = post_form(client, f"/apprenticeships/{a.id}/status", {"effective_on": parts(clock.today()),
                                                                    "reason": "Left"})
    assert field_error(nothing, "to_status") == "Select what has changed"


def test_the_history_shows_every_change_with_who_and_why(client, coordinator, a):
    apprenticeships.change_status(coordinator, a, S.BREAK_IN_LEARNING, effective_on=days_ago(30), reason="Surgery")
    apprenticeships.change_status(coordinator, a, S.ACTIVE, effective_on=days_ago(5), reason="Recovered")
    db.session.commit()
    text = text_of(client.get(f"/apprenticeships/{a.id}"))
    assert (f"{days_ago(30):%-d %B %Y} Active to Break in learning Surgery Cora Coordinator") in text
    assert (f"{days_ago(5):%-d %B %Y} Break in learning to Active Recovered Cora Coordinator") in text
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "apprenticeship.status_changed")).all()
    assert [e.details["to_status"] for e in events] == ["break_in_learning", "active"]
    assert all(e.actor_id == coordinator.id for e in events)
