"""KSB coverage (approved hours, placements, completed reviews) and the gateway checklist: each item met or
not, with the exact words that explain it; and who may record the employer's agreement."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from app.extensions import db
from app.models import (
    ApprenticeshipStatus,
    AuditEvent,
    BreakInLearning,
    EnglishMaths,
    KsbProgressLevel,
    OtjStatus,
    Rag,
    SigningParty,
)
from app.services import ServiceError, clock, gateway, progress_reviews
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_otj,
    make_placement,
    make_standard_version,
    make_supervisor,
)
from tests.conftest import post_form, sign_in
from tests.pages import html_of, page_title, text_of

HACKNEY, ISLINGTON = "E09000012", "E09000019"


@pytest.fixture
def version():
    return make_standard_version()


@pytest.fixture
def coordinator():
    return make_coordinator(scope=(HACKNEY,))


def ksb(version, code):
    return next(k for k in version.ksbs if k.code == code)


def item(checklist, key):
    return next(i for i in checklist.items if i.key == key)


def hold_review(apprenticeship, coordinator, levels: dict, *, review=None, sign=True):
    """Record a review (and, with ``sign``, have all three sign it)."""
    review = review or next(r for r in apprenticeship.reviews if r.held_on is None)
    held_on = min(review.due_on, clock.today())
    progress_reviews.record_review(coordinator, review, held_on=held_on, rag=Rag.GREEN, previous_actions=None,
                                   concerns=None, actions="Keep going", ksb_progress=levels)
    if sign:
        supervisor = progress_reviews.employer_placement(apprenticeship, held_on).supervisor
        progress_reviews.sign(apprenticeship.apprentice, review, SigningParty.APPRENTICE)
        progress_reviews.sign(supervisor, review, SigningParty.EMPLOYER)
        progress_reviews.sign(coordinator, review, SigningParty.COORDINATOR)
    db.session.commit()
    return review


def add_break(apprenticeship, starts_on, ends_on=None):
    db.session.add(BreakInLearning(apprenticeship_id=apprenticeship.id, starts_on=starts_on, ends_on=ends_on,
                                   reason="Caring responsibilities"))
    db.session.commit()
    db.session.refresh(apprenticeship)


# KSB coverage ----------------------------------------------------------------------------------


def test_coverage_counts_only_approved_hours(version):
    a = make_apprenticeship(standard_version=version)
    k1, k2, k3, s1 = (ksb(version, c) for c in ("K1", "K2", "K3", "S1"))
    make_otj(a, minutes=90, status=OtjStatus.APPROVED, ksbs=[k1, s1])
    make_otj(a, on=clock.today() - timedelta(days=2), minutes=60, status=OtjStatus.APPROVED, ksbs=[k1])
    make_otj(a, minutes=120, status=OtjStatus.SUBMITTED, ksbs=[k2])
    make_otj(a, minutes=120, status=OtjStatus.REJECTED, ksbs=[k3])

    coverage = {c.ksb.code: c for c in gateway.ksb_coverage(a)}
    assert list(coverage) == ["K1", "K2", "K3", "S1", "S2", "S3", "B1", "B2"]
    assert (coverage["K1"].approved_entries, coverage["K1"].approved_hours) == (2, Decimal("2.50"))
    assert (coverage["S1"].approved_entries, coverage["S1"].approved_hours) == (1, Decimal("1.50"))
    assert (coverage["K2"].approved_entries, coverage["K2"].approved_hours) == (0, Decimal("0.00"))
    assert [code for code, c in coverage.items() if c.evidenced] == ["K1", "S1"]
    summary = {k.label: (k.evidenced, k.missing, k.total) for k in gateway.coverage_summary(list(coverage.values()))}
    assert summary == {"Knowledge": (1, 2, 3), "Skills": (1, 2, 3), "Behaviours": (0, 2, 2)}


def test_placements_show_what_they_aim_at_but_are_not_evidence(version):
    a = make_apprenticeship(standard_version=version)
    placement = make_placement(a, ksbs=[ksb(version, "S2"), ksb(version, "B1")])
    coverage = {c.ksb.code: c for c in gateway.ksb_coverage(a)}
    assert coverage["S2"].placements == (placement,)
    assert coverage["K1"].placements == ()
    assert not coverage["S2"].evidenced


def test_only_the_latest_completed_review_counts(version, coordinator):
    a = make_apprenticeship(standard_version=version)
    make_placement(a)
    ready = {k.id: KsbProgressLevel.READY for k in version.ksbs}
    first = hold_review(a, coordinator, {**ready, ksb(version, "B2").id: KsbProgressLevel.IN_PROGRESS})
    coverage = {c.ksb.code: c for c in gateway.ksb_coverage(a)}
    assert coverage["K1"].review_level is KsbProgressLevel.READY and coverage["K1"].evidenced
    assert coverage["B2"].review_level is KsbProgressLevel.IN_PROGRESS and not coverage["B2"].evidenced

    # A later review recorded but not signed by everyone does not count yet.
    complete = {k.id: KsbProgressLevel.COMPLETE for k in version.ksbs}
    second = hold_review(a, coordinator, {**complete, ksb(version, "K1").id: KsbProgressLevel.NOT_STARTED},
                         sign=False)
    progress_reviews.sign(a.apprentice, second, SigningParty.APPRENTICE)
    db.session.commit()
    assert gateway.latest_completed_review(a) == first
    assert not {c.ksb.code: c for c in gateway.ksb_coverage(a)}["B2"].evidenced

    progress_reviews.sign(coordinator, second, SigningParty.COORDINATOR)
    progress_reviews.sign(progress_reviews.employer_placement(a, second.held_on).supervisor, second,
                          SigningParty.EMPLOYER)
    db.session.commit()
    coverage = {c.ksb.code: c for c in gateway.ksb_coverage(a)}
    assert coverage["B2"].review_level is KsbProgressLevel.COMPLETE and coverage["B2"].evidenced
    assert coverage["K1"].review_level is KsbProgressLevel.NOT_STARTED and not coverage["K1"].evidenced


def test_coverage_takes_the_same_queries_however_much_evidence(version):
    a = make_apprenticeship(standard_version=version)
    make_otj(a, status=OtjStatus.APPROVED)
    statements = []

    def count(*_args):
        statements.append(1)

    def queries():
        statements.clear()
        db.session.expire_all()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            gateway.ksb_coverage(a)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    few = queries()
    for n in range(6):
        start = a.starts_on + timedelta(days=10 * n)
        make_placement(a, starts_on=start, ends_on=start + timedelta(days=9), ksbs=version.ksbs[n:n + 3])
        make_otj(a, on=clock.today() - timedelta(days=n + 2), status=OtjStatus.APPROVED, ksbs=version.ksbs[n:n + 2])
    assert queries() == few


# The checklist ---------------------------------------------------------------------------------


def test_minimum_duration_from_the_rule_set(version):
    a = make_apprenticeship(standard_version=version, starts_on=date(2025, 9, 1))
    before = item(gateway.checklist(a, as_of=date(2026, 3, 1)), "minimum_duration")
    assert (before.met, before.detail) == (False, "Minimum practical period ends on 1 May 2026 (8 months)")
    on_the_day = item(gateway.checklist(a, as_of=date(2026, 5, 1)), "minimum_duration")
    assert (on_the_day.met, on_the_day.detail) == (True, "Minimum practical period ended on 1 May 2026 (8 months)")


def test_part_time_apprentices_have_a_longer_minimum(version):
    a = make_apprenticeship(standard_version=version, starts_on=date(2023, 1, 10), weekly_hours="25")
    check = item(gateway.checklist(a, as_of=date(2024, 1, 1)), "minimum_duration")
    assert check.detail == "Minimum practical period ends on 22 March 2024 (14.4 months for 25 hours a week)"


def test_break_days_extend_the_minimum_duration(version):
    a = make_apprenticeship(standard_version=version, starts_on=date(2025, 9, 1))
    add_break(a, date(2025, 11, 1), date(2025, 11, 21))
    check = item(gateway.checklist(a, as_of=date(2026, 5, 10)), "minimum_duration")
    assert (check.met, check.detail) == (
        False, "Minimum practical period ends on 22 May 2026 (8 months plus 21 days of breaks)")
    assert gateway.minimum_duration_end(a, date(2026, 6, 1)) == (date(2026, 5, 22), 21)
    assert item(gateway.checklist(a, as_of=date(2026, 5, 22)), "minimum_duration").met


def test_a_break_after_the_minimum_does_not_move_it(version):
    a = make_apprenticeship(standard_version=version, starts_on=date(2025, 9, 1))
    add_break(a, date(2026, 6, 1), date(2026, 6, 30))
    check = item(gateway.checklist(a, as_of=date(2026, 7, 15)), "minimum_duration")
    assert (check.met, check.detail) == (True, "Minimum practical period ended on 1 May 2026 (8 months)")


def test_a_break_still_going_on_counts_up_to_today(version):
    a = make_apprenticeship(standard_version=version, starts_on=date(2025, 9, 1))
    add_break(a, date(2026, 4, 30))
    assert gateway.minimum_duration_end(a, date(2026, 5, 10)) == (date(2026, 5, 12), 11)
    check = item(gateway.checklist(a, as_of=date(2026, 5, 10)), "minimum_duration")
    assert check.detail == "Minimum practical period ends on 12 May 2026 (8 months plus 11 days of breaks)"


def test_off_the_job_hours_against_the_plan(version):
    a = make_apprenticeship(standard_version=version)
    assert a.planned_otj_hours == 400
    make_otj(a, minutes=312 * 60 + 30, status=OtjStatus.APPROVED)
    make_otj(a, minutes=600, status=OtjStatus.SUBMITTED)
    check = item(gateway.checklist(a), "off_the_job")
    assert (check.met, check.detail) == (
        False, "312.5 of 400 planned off-the-job hours approved: 87.5 hours to go")
    make_otj(a, on=clock.today() - timedelta(days=2), minutes=86 * 60 + 30, status=OtjStatus.APPROVED)
    assert item(gateway.checklist(a), "off_the_job").detail == (
        "399 of 400 planned off-the-job hours approved: 1 hour to go")
    make_otj(a, on=clock.today() - timedelta(days=3), minutes=60, status=OtjStatus.APPROVED)
    check = item(gateway.checklist(a), "off_the_job")
    assert (check.met, check.detail) == (True, "400 of 400 planned off-the-job hours approved")


@pytest.mark.parametrize(("decision", "met", "detail"), [
    (EnglishMaths.REQUIRED, False, "English and maths: required, not yet achieved"),
    (EnglishMaths.ACHIEVED, True, "English and maths: achieved"),
    (EnglishMaths.NOT_REQUIRED, True, "English and maths: not required"),
])
def test_english_and_maths(version, decision, met, detail):
    a = make_apprenticeship(standard_version=version, english_maths=decision)
    check = item(gateway.checklist(a), "english_maths")
    assert (check.met, check.detail) == (met, detail)


def test_every_ksb_evidenced(version, coordinator):
    a = make_apprenticeship(standard_version=version)
    make_placement(a)
    make_otj(a, status=OtjStatus.APPROVED, ksbs=[ksb(version, "K1")])
    make_otj(a, status=OtjStatus.SUBMITTED, ksbs=[ksb(version, "K2")])
    check = item(gateway.checklist(a), "ksbs")
    assert (check.met, check.detail) == (False, "No evidence yet for K2, K3, S1, S2, S3, B1, B2")
    ready = {k.id: KsbProgressLevel.READY for k in version.ksbs}
    hold_review(a, coordinator, {**ready, ksb(version, "B2").id: KsbProgressLevel.IN_PROGRESS})
    assert item(gateway.checklist(a), "ksbs").detail == "No evidence yet for B2"
    hold_review(a, coordinator, ready)
    check = item(gateway.checklist(a), "ksbs")
    assert (check.met, check.detail) == (True, "Every KSB has evidence (8 of 8)")


def test_the_checklist_is_ready_only_when_everything_is_met(version, coordinator):
    a = make_apprenticeship(standard_version=version, starts_on=clock.today() - timedelta(days=300),
                            english_maths=EnglishMaths.REQUIRED)
    supervisor = make_supervisor("current@example.org")
    make_placement(a, supervisor=supervisor)
    checklist = gateway.checklist(a)
    assert not checklist.ready
    assert checklist.missing == [
        "0 of 400 planned off-the-job hours approved: 400 hours to go",
        "English and maths: required, not yet achieved",
        "No evidence yet for K1, K2, K3, S1, S2, S3, B1, B2",
        "The employer has not yet agreed the apprentice is ready",
    ]
    assert item(checklist, "minimum_duration").met

    make_otj(a, minutes=400 * 60, status=OtjStatus.APPROVED, ksbs=list(version.ksbs))
    a.english_maths = EnglishMaths.ACHIEVED
    gateway.record_employer_agreement(supervisor, a)
    db.session.commit()
    checklist = gateway.checklist(a)
    assert checklist.ready and checklist.missing == []
    assert item(checklist, "employer_agreement").detail == f"Agreed by Sam Supervisor on {clock.today():%-d %B %Y}"


# The employer's agreement ----------------------------------------------------------------------


class Placed:
    def __init__(self):
        today = clock.today()
        self.coordinator = make_coordinator(scope=(HACKNEY,))
        self.apprentice = make_apprentice()
        self.past_supervisor = make_supervisor("past@example.org")
        self.current_supervisor = make_supervisor("current@example.org")
        self.a = make_apprenticeship(self.apprentice, starts_on=today - timedelta(days=300))
        make_placement(self.a, supervisor=self.past_supervisor, ends_on=today - timedelta(days=30))
        make_placement(self.a, supervisor=self.current_supervisor, starts_on=today - timedelta(days=29))
        self.path = f"/apprenticeships/{self.a.id}/ksbs"


@pytest.fixture
def placed():
    return Placed()


def refusal(call) -> str:
    with pytest.raises(ServiceError) as caught:
        call()
    db.session.rollback()
    return caught.value.message


def test_who_may_record_the_employers_agreement(placed):
    a = placed.a
    assert gateway.may_agree(placed.current_supervisor, a)
    assert gateway.may_agree(placed.coordinator, a)
    assert not gateway.may_agree(placed.past_supervisor, a)
    assert not gateway.may_agree(placed.apprentice, a)
    assert not gateway.may_agree(make_coordinator("islington@example.org", scope=(ISLINGTON,)), a)
    message = ("Only the supervisor of the current placement or a coordinator can record the employer's "
               "agreement")
    assert refusal(lambda: gateway.record_employer_agreement(placed.past_supervisor, a)) == message
    assert refusal(lambda: gateway.record_employer_agreement(placed.apprentice, a)) == message

    gateway.record_employer_agreement(placed.current_supervisor, a)
    db.session.commit()
    assert a.employer_gateway_agreed_by_id == placed.current_supervisor.id and a.employer_gateway_agreed_at
    assert refusal(lambda: gateway.record_employer_agreement(placed.coordinator, a)) == (
        "The employer has already agreed the apprentice is ready")
    gateway.withdraw_employer_agreement(placed.coordinator, a)
    db.session.commit()
    assert a.employer_gateway_agreed_at is None and a.employer_gateway_agreed_by_id is None
    assert refusal(lambda: gateway.withdraw_employer_agreement(placed.coordinator, a)) == (
        "The employer has not agreed the apprentice is ready, so there is nothing to withdraw")
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.subject_type == "apprenticeship")
                                 .order_by(AuditEvent.id)).all()
    assert actions == ["apprenticeship.gateway_agreed", "apprenticeship.gateway_agreement_withdrawn"]


def test_the_agreement_stands_once_past_gateway_and_cannot_change_when_withdrawn(placed):
    a = placed.a
    gateway.record_employer_agreement(placed.coordinator, a)
    a.status = ApprenticeshipStatus.GATEWAY
    db.session.commit()
    assert refusal(lambda: gateway.withdraw_employer_agreement(placed.coordinator, a)) == (
        "The apprentice is at gateway: move them back to learning first if the employer no longer agrees they are "
        "ready")
    a.status = ApprenticeshipStatus.END_POINT_ASSESSMENT
    db.session.commit()
    assert refusal(lambda: gateway.withdraw_employer_agreement(placed.coordinator, a)) == (
        "The apprentice has gone through gateway, so the employer's agreement stands")
    a.status = ApprenticeshipStatus.WITHDRAWN
    db.session.commit()
    assert refusal(lambda: gateway.withdraw_employer_agreement(placed.coordinator, a)) == (
        "This apprenticeship is withdrawn, so the employer's agreement can no longer change")


def test_the_ksbs_page_shows_coverage_and_the_checklist(client, placed):
    make_otj(placed.a, status=OtjStatus.APPROVED, ksbs=[placed.a.standard_version.ksbs[0]])
    sign_in(client, placed.apprentice)
    page = client.get(placed.path)
    assert page.status_code == 200
    assert page_title(page) == "KSBs and gateway: Ada Apprentice – Pathways"
    text = text_of(page)
    assert "Gateway checklist" in text
    assert "Minimum duration Minimum practical period ended on" in text
    assert "Off-the-job hours 2 of 400 planned off-the-job hours approved: 398 hours to go Not met" in text
    assert "Evidence for every KSB No evidence yet for K2, K3, S1, S2, S3, B1, B2 Not met" in text
    assert "English and maths English and maths: achieved Met" in text
    assert "The employer has not yet agreed the apprentice is ready Not met" in text
    assert "1 of 8 KSBs have evidence" in text
    assert "Knowledge: 1 of 3 with evidence" in text
    assert "1 entry, 2 hours" in text
    assert "Record employer agreement" not in text


def test_the_current_supervisor_records_the_agreement_on_the_page(client, placed):
    sign_in(client, placed.current_supervisor)
    page = client.get(placed.path)
    assert "Record employer agreement" in text_of(page)
    response = post_form(client, f"/apprenticeships/{placed.a.id}/gateway-agreement", {"decision": "agree"},
                         token_from=placed.path)
    assert response.status_code == 302 and response.headers["Location"] == placed.path
    page = client.get(placed.path)
    assert "The employer's agreement that the apprentice is ready for gateway has been recorded." in text_of(page)
    assert f"Agreed by Sam Supervisor on {clock.today():%-d %B %Y} Met" in text_of(page)
    assert "Withdraw the employer's agreement" in text_of(page)

    response = post_form(client, f"/apprenticeships/{placed.a.id}/gateway-agreement", {"decision": "agree"},
                         token_from=placed.path)
    assert response.status_code == 400
    assert "The employer has already agreed the apprentice is ready" in text_of(response)
    assert 'href="#employer-agreement"' in html_of(response)


@pytest.mark.parametrize(("who", "status"), [("apprentice", 403), ("past supervisor", 403),
                                             ("other borough coordinator", 404)])
def test_others_cannot_record_the_agreement(client, placed, who, status):
    person = {"apprentice": placed.apprentice, "past supervisor": placed.past_supervisor}.get(who) or \
        make_coordinator("islington@example.org", scope=(ISLINGTON,), organisation_code=ISLINGTON)
    sign_in(client, person)
    response = post_form(client, f"/apprenticeships/{placed.a.id}/gateway-agreement", {"decision": "agree"},
                         token_from="/")
    assert response.status_code == status
    db.session.refresh(placed.a)
    assert placed.a.employer_gateway_agreed_at is None
