"""Reminders: each event at its boundary, one email per person per run, never twice (reruns, two schedulers at
once), essential ones only for people who opted out, nothing at night, the weekly digest for coordinators, the
preview, and the settings and preview pages."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, date, datetime, time, timedelta
from itertools import count

import pytest
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import (
    ApprenticeshipStatus,
    AuditEvent,
    BreakInLearning,
    Certificate,
    CertificateKind,
    CertificateStatus,
    Enrolment,
    EnrolmentStatus,
    OutboundEmail,
    Person,
    ProgressReview,
    Reminder,
    RiskFlag,
    RiskRating,
    Role,
)
from app.services import clock, reminders
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_intake,
    make_otj,
    make_placement,
    make_supervisor,
)
from tests.conftest import BACKEND, csrf_token, make_person, post_form, sign_in
from tests.course_factories import make_learner, make_learning_course, make_run
from tests.pages import field_error, text_of

TODAY = clock.today()


def at(day: date = TODAY, hour: int = 12, minute: int = 0) -> datetime:
    """A moment, London time, as the scheduler passes it (aware UTC)."""
    return datetime.combine(day, time(hour, minute), tzinfo=clock.LONDON).astimezone(UTC)


NOON = at()


def keys() -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(select(Reminder.key)))


def emails_to(person) -> list[OutboundEmail]:
    return list(db.session.scalars(select(OutboundEmail).where(OutboundEmail.recipient == person.email)
                                   .order_by(OutboundEmail.id)))


def count_of(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def run_reminders(now: datetime = NOON) -> dict[str, int]:
    counts = reminders.queue_due_reminders(now)
    db.session.commit()
    return counts


def review_in(days: int, *, apprenticeship=None, supervisor=None, intake=None) -> ProgressReview:
    """A review due ``days`` from today (negative: overdue) of an apprenticeship with a placement."""
    if apprenticeship is None:
        apprenticeship = make_apprenticeship(schedule=False, intake=intake)
        make_placement(apprenticeship, supervisor=supervisor)
        make_otj(apprenticeship)  # logging hours: no reminder about that
    review = ProgressReview(apprenticeship_id=apprenticeship.id, sequence=len(apprenticeship.reviews) + 1,
                            due_on=TODAY + timedelta(days=days))
    db.session.add(review)
    db.session.commit()
    return review


def certificate_for(person, *, issued: datetime, status=CertificateStatus.VALID) -> Certificate:
    number = f"PW-2026-{person.id:06d}"
    certificate = Certificate(number=number, version=1, kind=CertificateKind.COURSE, achievement_key=f"test:{number}",
                              current_key=f"test:{number}", verification_code=f"code{person.id:028d}",
                              holder_id=person.id, holder_name=person.name, achievement="Leading digital change",
                              completed_on=issued.date(), details={}, status=status, issued_at=issued)
    db.session.add(certificate)
    db.session.commit()
    return certificate


_courses = count(1)


def run_starting_in(days: int, *, length: int = 28, name: str | None = None):
    """A scheduled run starting ``days`` from today (negative: started) and ending ``length`` days later."""
    course = make_learning_course(f"course-{next(_courses)}")
    return make_run(course, name=name or f"Run in {days}", starts_in=days, days=length)


def enrol(person, run, status: EnrolmentStatus = EnrolmentStatus.ENROLLED) -> Enrolment:
    """Straight into the table, whatever the run's enrolment deadline."""
    enrolment = Enrolment(run_id=run.id, person_id=person.id, status=status, enrolled_at=NOON)
    db.session.add(enrolment)
    db.session.commit()
    return enrolment


# Progress reviews ------------------------------------------------------------------------------------------


def test_a_review_due_within_seven_days_reminds_the_apprentice_and_supervisor_once():
    eight, seven, six = review_in(8), review_in(7), review_in(6)
    counts = run_reminders()
    found = keys()
    for review in (seven, six):
        apprenticeship = review.apprenticeship
        assert f"review_due:{review.id}:{apprenticeship.apprentice_id}" in found
        assert f"review_due:{review.id}:{apprenticeship.placements[0].supervisor_id}" in found
    assert not any(key.startswith(f"review_due:{eight.id}:") for key in found)
    assert counts["review_due"] == 4 and counts["emails"] == 4
    email = emails_to(seven.apprenticeship.apprentice)[0]
    assert email.subject == "Reminder: Progress review due"
    assert f"Your progress review is due on {seven.due_on:%-d %B %Y}." in email.body_text
    assert f"http://pathways.test/apprenticeships/{seven.apprenticeship_id}/reviews/{seven.id}" in email.body_text
    supervisor_email = emails_to(seven.apprenticeship.placements[0].supervisor)[0]
    assert f"{seven.apprenticeship.apprentice.name}'s progress review is due on" in supervisor_email.body_text


def test_the_supervisor_reminded_is_the_one_of_the_placement_in_force_on_the_due_date():
    apprenticeship = make_apprenticeship(schedule=False)
    now_supervisor = make_supervisor("now@example.org")
    next_supervisor = make_supervisor("next@example.org")
    make_placement(apprenticeship, supervisor=now_supervisor, ends_on=TODAY + timedelta(days=3))
    make_placement(apprenticeship, supervisor=next_supervisor, starts_on=TODAY + timedelta(days=4),
                   ends_on=TODAY + timedelta(days=90))
    make_otj(apprenticeship)
    review = review_in(7, apprenticeship=apprenticeship)
    run_reminders()
    assert keys() == {f"review_due:{review.id}:{apprenticeship.apprentice_id}",
                      f"review_due:{review.id}:{next_supervisor.id}"}


def test_an_overdue_review_reminds_the_apprentice_supervisor_and_intake_coordinator():
    coordinator = make_coordinator("intake.lead@example.org", scope=())
    intake = make_intake(coordinator=coordinator)
    overdue = review_in(-1, intake=intake)
    due_today = review_in(0)
    apprenticeship = overdue.apprenticeship
    counts = run_reminders()
    assert {k for k in keys() if k.startswith("review_overdue:")} == {
        f"review_overdue:{overdue.id}:{apprenticeship.apprentice_id}",
        f"review_overdue:{overdue.id}:{apprenticeship.placements[0].supervisor_id}",
        f"review_overdue:{overdue.id}:{coordinator.id}",
    }
    assert f"review_due:{due_today.id}:{due_today.apprenticeship.apprentice_id}" in keys()
    assert counts["review_overdue"] == 3
    assert "has not been held yet" in emails_to(coordinator)[0].body_text
    assert db.session.scalars(select(Reminder).where(Reminder.kind == "review_overdue")).first().essential is True


def test_reviews_already_held_or_of_apprenticeships_no_longer_active_are_not_reminded():
    held = review_in(-3)
    held.held_on = TODAY - timedelta(days=3)
    withdrawn = review_in(-2)
    withdrawn.apprenticeship.status = ApprenticeshipStatus.WITHDRAWN
    db.session.commit()
    run_reminders()
    assert not any(k.startswith("review_") for k in keys())


# Off-the-job hours --------------------------------------------------------------------------------------


def _logged_days_ago(apprenticeship, days: int) -> None:
    activity = make_otj(apprenticeship, on=TODAY - timedelta(days=days))
    activity.logged_at = at(TODAY - timedelta(days=days), 10)
    db.session.commit()


def test_no_otj_logged_for_fourteen_days_reminds_the_apprentice_of_a_live_apprenticeship():
    quiet = {}
    for days in (13, 14, 15):
        apprenticeship = make_apprenticeship(schedule=False)
        _logged_days_ago(apprenticeship, days)
        quiet[days] = apprenticeship
    on_break = make_apprenticeship(schedule=False)
    _logged_days_ago(on_break, 30)
    db.session.add(BreakInLearning(apprenticeship_id=on_break.id, starts_on=TODAY - timedelta(days=10),
                                   reason="Illness"))
    back_recently = make_apprenticeship(schedule=False)
    db.session.add(BreakInLearning(apprenticeship_id=back_recently.id, starts_on=TODAY - timedelta(days=60),
                                   ends_on=TODAY - timedelta(days=13), reason="Illness"))
    withdrawn = make_apprenticeship(schedule=False, status=ApprenticeshipStatus.WITHDRAWN)
    just_started = make_apprenticeship(schedule=False, starts_on=TODAY - timedelta(days=13))
    db.session.commit()

    counts = run_reminders()
    reminded = {int(k.split(":")[1]) for k in keys() if k.startswith("no_otj_14_days:")}
    assert reminded == {quiet[14].id, quiet[15].id}
    assert not reminded & {quiet[13].id, on_break.id, back_recently.id, withdrawn.id, just_started.id}
    assert counts["no_otj_14_days"] == 2
    body = emails_to(quiet[14].apprentice)[0].body_text
    assert "for 14 days" in body and f"/apprenticeships/{quiet[14].id}/off-the-job/new" in body


def test_the_otj_reminder_repeats_at_most_once_every_fourteen_days():
    apprenticeship = make_apprenticeship(schedule=False)
    _logged_days_ago(apprenticeship, 14)
    assert run_reminders()["no_otj_14_days"] == 1
    assert run_reminders(at(TODAY + timedelta(days=1)))["no_otj_14_days"] == 0
    assert run_reminders(at(TODAY + timedelta(days=13)))["no_otj_14_days"] == 0
    assert run_reminders(at(TODAY + timedelta(days=14)))["no_otj_14_days"] == 1
    assert len([k for k in keys() if k.startswith("no_otj_14_days:")]) == 2


# Course runs and certificates ---------------------------------------------------------------------------


def test_runs_starting_within_three_days_remind_each_person_enrolled():
    learner = make_learner()
    runs = {days: run_starting_in(days) for days in (2, 3, 4)}
    for run in runs.values():
        enrol(learner, run)
    waitlisted = make_learner()
    enrol(waitlisted, runs[3], EnrolmentStatus.WAITLISTED)
    counts = run_reminders()
    assert {k for k in keys() if k.startswith("run_starting:")} == {
        f"run_starting:{runs[2].id}:{learner.id}", f"run_starting:{runs[3].id}:{learner.id}"}
    assert counts["run_starting"] == 2 and counts["emails"] == 1
    assert not emails_to(waitlisted)


def test_a_run_ending_within_seven_days_reminds_those_who_have_not_completed():
    learner, finished = make_learner(), make_learner()
    # Started a month ago, ending in 6, 7 and 8 days.
    runs = {days: run_starting_in(days - 30, length=30, name=f"Ends in {days}") for days in (6, 7, 8)}
    for run in runs.values():
        enrol(learner, run)
    enrol(finished, runs[7], EnrolmentStatus.COMPLETED)
    run_reminders()
    assert {k for k in keys() if k.startswith("run_deadline:")} == {
        f"run_deadline:{runs[6].id}:{learner.id}", f"run_deadline:{runs[7].id}:{learner.id}"}
    body = emails_to(learner)[0].body_text
    assert f"ends on {TODAY + timedelta(days=7):%-d %B %Y}: complete it by then" in body


def test_certificates_issued_since_the_last_run_are_announced_to_the_holder():
    recent, old, revoked = make_learner(), make_learner(), make_learner()
    new = certificate_for(recent, issued=NOON - timedelta(days=1))
    certificate_for(old, issued=NOON - timedelta(days=3))
    certificate_for(revoked, issued=NOON - timedelta(hours=2), status=CertificateStatus.REVOKED)
    counts = run_reminders()
    assert {k for k in keys() if k.startswith("certificate_issued:")} == {f"certificate_issued:{new.id}"}
    assert counts["certificate_issued"] == 1
    assert new.number in emails_to(recent)[0].body_text


# One email, never twice --------------------------------------------------------------------------------


def _learner_with_three_reminders(**person):
    learner = make_learner(**person)
    enrol(learner, run_starting_in(2, length=4))  # starts in 2 days and ends in 6: two reminders
    certificate_for(learner, issued=NOON - timedelta(hours=3))
    return learner


def test_several_reminders_for_one_person_go_in_one_email_and_a_rerun_sends_nothing():
    learner = _learner_with_three_reminders()
    counts = run_reminders()
    assert counts["emails"] == 1 and count_of(Reminder) == 3
    [email] = emails_to(learner)
    assert email.subject == "3 reminders from Pathways" and email.purpose == "reminders"
    assert "1. Certificate issued" in email.body_text and "Course run starting" in email.body_text
    assert "Course run ending" in email.body_text
    assert {r.email_id for r in db.session.scalars(select(Reminder)).all()} == {email.id}

    again = run_reminders(NOON + timedelta(hours=1))
    assert again["emails"] == 0 and sum(v for k, v in again.items() if k in reminders.DUE_KINDS) == 0
    assert count_of(Reminder) == 3 and len(emails_to(learner)) == 1


def test_people_who_opted_out_get_essential_reminders_only():
    learner = _learner_with_three_reminders()
    learner.non_essential_reminders = False
    db.session.commit()
    counts = run_reminders()
    assert counts["skipped_opted_out"] == 2 and counts["certificate_issued"] == 1
    [email] = emails_to(learner)
    assert email.subject == "Reminder: Certificate issued" and "Course run" not in email.body_text
    skipped = db.session.scalars(select(Reminder).where(Reminder.email_id.is_(None))).all()
    assert {r.kind for r in skipped} == {"run_starting", "run_deadline"}
    assert {r.skipped_reason for r in skipped} == {reminders.OPTED_OUT}
    # Not reconsidered on the next run, even after opting back in.
    learner.non_essential_reminders = True
    db.session.commit()
    assert run_reminders(NOON + timedelta(hours=1))["emails"] == 0


@pytest.mark.parametrize(("hour", "minute"), [(21, 0), (7, 59), (20, 0), (3, 0)])
def test_nothing_is_queued_at_night(hour, minute):
    _learner_with_three_reminders()
    counts = run_reminders(at(TODAY, hour, minute))
    assert counts == {"held_for_daytime": 3}
    assert count_of(Reminder) == 0 and count_of(OutboundEmail) == 0
    assert run_reminders(at(TODAY, 8, 0))["emails"] == 1


def test_a_deliberate_run_sends_what_quiet_hours_hold_and_the_next_daytime_run_sends_nothing_more():
    _learner_with_three_reminders()
    counts = reminders.queue_due_reminders(at(TODAY, 22), quiet_hours=False)
    db.session.commit()
    assert counts["emails"] == 1 and count_of(Reminder) == 3
    assert run_reminders(at(TODAY + timedelta(days=1), 8, 5))["emails"] == 0


def test_inactive_people_get_nothing():
    learner = _learner_with_three_reminders()
    learner.active = False
    db.session.commit()
    counts = run_reminders()
    assert counts["emails"] == 0 and count_of(Reminder) == 0


def test_the_preview_lists_what_the_next_run_sends_and_writes_nothing():
    _learner_with_three_reminders()
    opted_out = _learner_with_three_reminders()
    opted_out.non_essential_reminders = False
    review = review_in(-2)
    db.session.commit()
    items = reminders.preview(NOON)
    db.session.commit()
    assert count_of(Reminder) == 0 and count_of(OutboundEmail) == 0
    run_reminders()
    db.session.expire_all()
    recorded = {r.key: r for r in db.session.scalars(select(Reminder)).all()}
    assert {i.due.key for i in items} == set(recorded)
    assert {i.due.key for i in items if i.will_send} == {k for k, r in recorded.items() if r.email_id}
    assert any(i.due.key.startswith(f"review_overdue:{review.id}:") and i.due.essential for i in items)
    assert reminders.preview(NOON) == []


# Two schedulers at once ----------------------------------------------------------------------------------


def _scenario_for_racing():
    for _ in range(3):
        _learner_with_three_reminders()
    review_in(-1)


def _assert_each_once(results):
    db.session.expire_all()
    assert count_of(Reminder) == 9 + 2  # three learners with three each; apprentice and supervisor
    assert count_of(OutboundEmail) == 5  # one per person
    emailed = [r for r in results if isinstance(r, dict)]
    assert sum(r["emails"] for r in emailed) == 5, results


@pytest.mark.skipif(BACKEND != "postgresql", reason="two connections racing: PostgreSQL")
def test_two_schedulers_racing_on_postgresql_record_and_send_each_reminder_once(app, monkeypatch):
    _scenario_for_racing()
    both_looked = threading.Barrier(2, timeout=30)
    pending = reminders._pending

    def pending_then_wait(now):
        found = pending(now)
        both_looked.wait()  # both have found the same reminders unrecorded: now both record them
        return found

    monkeypatch.setattr(reminders, "_pending", pending_then_wait)
    results: list = [None, None]

    def run(index):
        with app.app_context():
            try:
                results[index] = reminders.queue_due_reminders(NOON)
                db.session.commit()
            except Exception as error:  # noqa: BLE001 - reported to the test
                db.session.rollback()
                results[index] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(isinstance(r, dict) for r in results), results
    assert sum(r["already_recorded"] for r in results) == 11  # the loser found every key taken
    _assert_each_once(results)


def _scheduler_process(database_url: str, now: str, start, results) -> None:
    from app import create_app

    application = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url)
    with application.app_context():
        start.wait(30)
        counts = reminders.queue_due_reminders(datetime.fromisoformat(now))
        db.session.commit()
        results.put(counts)


@pytest.mark.skipif(BACKEND != "sqlite", reason="two processes on one SQLite file; PostgreSQL races connections above")
def test_two_scheduler_processes_at_once_on_sqlite_record_and_send_each_reminder_once(app):
    _scenario_for_racing()
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    processes = [context.Process(target=_scheduler_process, args=(url, NOON.isoformat(), start, results))
                 for _ in range(2)]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(timeout=60)
    assert [p.exitcode for p in processes] == [0, 0]
    _assert_each_once([results.get(timeout=5) for _ in processes])


# Weekly digests ---------------------------------------------------------------------------------------------


HACKNEY, ISLINGTON = "E09000012", "E09000019"


def _flag(apprenticeship, rating: RiskRating, code: str = "otj_behind"):
    db.session.add(RiskFlag(apprenticeship_id=apprenticeship.id, person_id=apprenticeship.apprentice_id, code=code,
                            rating=rating, reason="Behind on hours", details={}))
    db.session.commit()


def test_weekly_digests_go_once_a_week_to_each_coordinator_scoped_to_their_organisations():
    hackney = make_coordinator("hackney.lead@example.org", scope=(HACKNEY,))
    islington = make_coordinator("islington.lead@example.org", scope=(ISLINGTON,), organisation_code=ISLINGTON)
    everywhere = make_coordinator("programme.lead@example.org", scope=())
    plain_admin = make_person("admin@example.org", roles=(Role.ADMIN,), organisation_code="LC")
    intake_admin = make_person("intake.admin@example.org", roles=(Role.ADMIN,), organisation_code="LC")
    intake = make_intake(coordinator=intake_admin)

    in_hackney = make_apprenticeship(make_apprentice("a1@example.org"), employer_code=HACKNEY, schedule=False)
    _flag(in_hackney, RiskRating.RED)
    _flag(in_hackney, RiskRating.AMBER, "no_otj_month")
    in_islington = make_apprenticeship(make_apprentice("a2@example.org", organisation_code=ISLINGTON),
                                       employer_code=ISLINGTON, intake=intake, schedule=False)
    _flag(in_islington, RiskRating.AMBER)
    make_placement(in_islington, host_code=ISLINGTON)
    make_otj(in_islington, minutes=90)
    review_in(-5, apprenticeship=in_islington)

    counts = reminders.queue_weekly_digests(NOON)
    db.session.commit()
    assert counts["digests"] == 4 and counts["emails"] == 4
    assert not emails_to(plain_admin)
    week = reminders.iso_week(NOON)
    assert f"digest:{hackney.id}:{week}" in keys()

    hackney_body = emails_to(hackney)[0].body_text
    assert "Apprentices at risk: 1 red, 0 amber" in hackney_body
    assert "Progress reviews overdue: 0" in hackney_body
    assert "http://pathways.test/cohort-review/apprentices" in hackney_body
    islington_body = emails_to(islington)[0].body_text
    assert "Apprentices at risk: 0 red, 1 amber" in islington_body
    assert "Progress reviews overdue: 1" in islington_body
    assert "Off-the-job hours waiting for approval: 1.5 hours in 1 entry" in islington_body
    assert "Apprentices at risk: 1 red, 1 amber" in emails_to(everywhere)[0].body_text
    assert "Apprentices at risk: 0 red, 1 amber" in emails_to(intake_admin)[0].body_text

    # Never twice in a week; again the next week.
    later = reminders.queue_weekly_digests(NOON + timedelta(hours=2))
    db.session.commit()
    assert later["emails"] == 0
    next_week = reminders.queue_weekly_digests(NOON + timedelta(days=7))
    db.session.commit()
    assert next_week["emails"] == 4 and len(emails_to(hackney)) == 2


def test_weekly_digests_respect_opting_out_and_the_night():
    coordinator = make_coordinator(scope=())
    _flag(make_apprenticeship(schedule=False), RiskRating.RED)
    assert reminders.queue_weekly_digests(at(TODAY, 22)) == {"held_for_daytime": 1}
    coordinator.non_essential_reminders = False
    db.session.commit()
    counts = reminders.queue_weekly_digests(NOON)
    db.session.commit()
    assert counts["skipped_opted_out"] == 1 and counts["emails"] == 0
    assert db.session.scalars(select(Reminder)).one().skipped_reason == reminders.OPTED_OUT


# Pages -------------------------------------------------------------------------------------------------------


def test_reminder_settings_page_changes_the_choice_with_csrf_and_an_audit_record(client):
    person = make_learner()
    sign_in(client, person)
    page = client.get("/account/reminders")
    assert page.status_code == 200
    text = text_of(page)
    assert "Reminder settings" in text and "Progress review due" in text and "Course run starting" in text
    assert 'href="/account/reminders"' in page.get_data(as_text=True)  # beside "Change your password"

    refused = client.post("/account/reminders", data={"non_essential": "no"})
    assert refused.status_code == 400
    missing = post_form(client, "/account/reminders", {})
    assert field_error(missing, "non_essential") == "Select whether you want reminders that are not essential"

    saved = post_form(client, "/account/reminders", {"non_essential": "no"}, follow_redirects=True)
    assert "You will get essential reminders only." in text_of(saved)
    db.session.expire_all()
    assert db.session.get(Person, person.id).non_essential_reminders is False
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "reminders.preference_changed")).one()
    assert event.actor_id == person.id and event.subject_id == person.id
    assert 'value="no" checked' in client.get("/account/reminders").get_data(as_text=True)


def test_reminder_preview_page_is_for_admins(client, new_client, signed_in_admin):
    learner = _learner_with_three_reminders(name="Priya Preview")
    page = client.get("/admin/reminders/preview")
    assert page.status_code == 200
    text = text_of(page)
    assert "Due at the next run: 3 reminders" in text and "Priya Preview" in text and "No reminders yet." in text
    run_reminders()
    text = text_of(client.get("/admin/reminders/preview"))
    assert "Nobody is due a reminder." in text and "certificate_issued:" in text and learner.name in text

    coordinator = make_coordinator()
    other = new_client()
    sign_in(other, coordinator)
    assert other.get("/admin/reminders/preview").status_code == 403
    anonymous = new_client().get("/admin/reminders/preview")
    assert anonymous.status_code == 302 and "/sign-in" in anonymous.headers["Location"]
    assert csrf_token(client, "/account/reminders")


def _statements_of(work) -> int:
    statements = []

    def count_statement(*_args):
        statements.append(1)

    event.listen(db.engine, "before_cursor_execute", count_statement)
    try:
        work()
    finally:
        event.remove(db.engine, "before_cursor_execute", count_statement)
    return len(statements)


def test_finding_who_is_due_takes_the_same_number_of_queries_for_one_person_or_many():
    _learner_with_three_reminders()
    review_in(-1)
    db.session.expire_all()
    few = _statements_of(lambda: reminders.preview(NOON))
    for _ in range(3):
        _learner_with_three_reminders()
        review_in(-1)
        review_in(5)
    db.session.expire_all()
    many = _statements_of(lambda: reminders.preview(NOON))
    assert few == many
