"""Progress reviews: recording (who, when, what), the off-the-job snapshot, three-way signing and who may
sign as which party, the locked record, the states of a review, and the lists of reviews to sign."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import (
    ApprenticeshipStatus,
    AuditEvent,
    KsbProgressLevel,
    OtjStatus,
    ProgressReview,
    Rag,
    ReviewSignature,
    Role,
    SigningParty,
)
from app.services import ServiceError, clock, otj_totals, progress_reviews
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_otj,
    make_placement,
    make_standard_version,
    make_supervisor,
)
from tests.conftest import make_person, post_form, sign_in
from tests.pages import field_error, html_of, page_title, text_of

HACKNEY, ISLINGTON = "E09000012", "E09000019"


class Record:
    """An apprentice employed by Hackney on a 24-month apprenticeship that started 200 days ago: a first
    placement with one supervisor until 60 days ago, then a second with another."""

    def __init__(self):
        today = clock.today()
        self.version = make_standard_version()
        self.coordinator = make_coordinator(scope=(HACKNEY,))
        self.apprentice = make_apprentice()
        self.first_supervisor = make_supervisor("first@example.org")
        self.second_supervisor = make_supervisor("second@example.org")
        self.apprenticeship = make_apprenticeship(self.apprentice, standard_version=self.version,
                                                  starts_on=today - timedelta(days=200))
        a = self.apprenticeship
        self.first = make_placement(a, supervisor=self.first_supervisor, ends_on=today - timedelta(days=60))
        self.second = make_placement(a, supervisor=self.second_supervisor, starts_on=today - timedelta(days=59),
                                     ends_on=today + timedelta(days=100))
        self.reviews = sorted(a.reviews, key=lambda r: r.sequence)

    def levels(self, level=KsbProgressLevel.IN_PROGRESS) -> dict:
        return {ksb.id: level for ksb in self.version.ksbs}

    def record(self, review=None, actor=None, **overrides):
        review = review or self.reviews[0]
        values = {"held_on": review.due_on, "rag": Rag.GREEN, "previous_actions": None, "concerns": None,
                  "actions": "Finish the data module.", "ksb_progress": self.levels()}
        values.update(overrides)
        progress_reviews.record_review(actor or self.coordinator, review, **values)
        db.session.commit()
        return review

    def url(self, review=None, suffix="") -> str:
        review = review or self.reviews[0]
        return f"/apprenticeships/{self.apprenticeship.id}/reviews/{review.id}{suffix}"

    def sign_all(self, review=None):
        review = review or self.reviews[0]
        progress_reviews.sign(self.apprentice, review, SigningParty.APPRENTICE)
        progress_reviews.sign(self.first_supervisor, review, SigningParty.EMPLOYER)
        progress_reviews.sign(self.coordinator, review, SigningParty.COORDINATOR)
        db.session.commit()


@pytest.fixture
def record():
    return Record()


def refusal(call) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call()
    db.session.rollback()
    return caught.value


def review_form(record: Record, review=None, **overrides) -> dict:
    review = review or record.reviews[0]
    day = overrides.pop("held_on", review.due_on)
    data = {"held_on": [str(day.day), str(day.month), str(day.year)], "rag": "amber",
            "previous_actions": "", "concerns": "Hours are a little behind.", "actions": "Book two study days."}
    data.update({f"ksb_{ksb.id}": "in_progress" for ksb in record.version.ksbs})
    data.update(overrides)
    return data


# Recording -------------------------------------------------------------------------------------


def test_the_schedule_gives_two_reviews_due_and_one_to_come(record):
    today = clock.today()
    assert [r.due_on < today for r in record.reviews[:3]] == [True, True, False]


def test_a_coordinator_records_a_review_with_the_hours_of_that_day(record):
    review = record.reviews[0]
    a = record.apprenticeship
    make_otj(a, on=review.due_on - timedelta(days=3), minutes=150, status=OtjStatus.APPROVED)
    make_otj(a, on=review.due_on, minutes=60, status=OtjStatus.APPROVED)
    make_otj(a, on=review.due_on + timedelta(days=1), minutes=600, status=OtjStatus.APPROVED)  # after the review
    make_otj(a, on=review.due_on - timedelta(days=2), minutes=240, status=OtjStatus.SUBMITTED)
    make_otj(a, on=review.due_on - timedelta(days=4), minutes=240, status=OtjStatus.REJECTED)

    record.record(review, rag=Rag.AMBER, previous_actions="  ", concerns="Behind on hours",
                  ksb_progress={**record.levels(), record.version.ksbs[0].id: KsbProgressLevel.READY})

    db.session.refresh(review)
    assert review.held_on == review.due_on
    assert review.rag is Rag.AMBER
    assert review.otj_hours_approved == Decimal("3.50")
    assert review.otj_hours_expected == otj_totals.expected_hours(a, review.due_on)
    assert review.otj_hours_expected > 0
    assert review.previous_actions is None
    assert (review.concerns, review.actions) == ("Behind on hours", "Finish the data module.")
    assert review.recorded_by_id == record.coordinator.id and review.recorded_at is not None
    assert review.completed_at is None
    levels = {p.ksb.code: p.level for p in review.ksb_progress}
    assert levels["K1"] is KsbProgressLevel.READY and levels["B2"] is KsbProgressLevel.IN_PROGRESS
    assert len(levels) == len(record.version.ksbs)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "progress_review.recorded"))
    assert event.actor_id == record.coordinator.id and event.subject_id == review.id


def test_the_supervisor_of_the_placement_on_the_day_may_record(record):
    review = record.reviews[0]  # held during the first placement
    record.record(review, actor=record.first_supervisor)
    assert review.recorded_by_id == record.first_supervisor.id


def test_a_supervisor_may_not_record_a_review_held_outside_their_placement(record):
    review = record.reviews[0]
    error = refusal(lambda: record.record(review, actor=record.second_supervisor))
    assert error.field == "held_on"
    assert error.message == ("You can record a review only if it was held during your placement with the "
                             "apprentice; otherwise ask a coordinator")


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"held_on": None}, "held_on", "Enter the date the review was held"),
    ({"held_on": "tomorrow"}, "held_on", "The date the review was held must be today or in the past"),
    ({"held_on": "before start"}, "held_on", "The date the review was held must be on or after the start of the "
                                             "apprenticeship, {start}"),
    ({"rag": None}, "rag", "Select a RAG rating"),
    ({"rag": "purple"}, "rag", "Select a RAG rating: red, amber or green"),
    ({"actions": "  "}, "actions", "Enter the actions agreed for before the next review"),
    ({"ksb_progress": "missing"}, "ksb_progress", "Select the progress on every KSB: S3, B2 still need a level"),
    ({"ksb_progress": "foreign"}, "ksb_progress", "Progress can be given only for the KSBs of the apprentice's "
                                                  "standard"),
])
def test_recording_is_refused_with_a_reason(record, overrides, field, message):
    a = record.apprenticeship
    start = a.starts_on
    if overrides.get("held_on") == "tomorrow":
        overrides["held_on"] = clock.today() + timedelta(days=1)
    if overrides.get("held_on") == "before start":
        overrides["held_on"] = start - timedelta(days=1)
    if overrides.get("ksb_progress") == "missing":
        levels = record.levels()
        for ksb in record.version.ksbs:
            if ksb.code in ("S3", "B2"):
                del levels[ksb.id]
        overrides["ksb_progress"] = levels
    if overrides.get("ksb_progress") == "foreign":
        other = make_standard_version("ST0118", title="Data analyst")
        overrides["ksb_progress"] = {**record.levels(), other.ksbs[0].id: KsbProgressLevel.READY}
    error = refusal(lambda: record.record(**overrides))
    assert (error.field, error.message) == (field, message.format(start=f"{start:%-d %B %Y}"))
    assert record.reviews[0].held_on is None


def test_the_apprentice_may_not_record_their_own_review(record):
    error = refusal(lambda: record.record(actor=record.apprentice))
    assert error.message == "Only a coordinator or the apprentice's supervisor can record a progress review"


def test_a_review_can_be_corrected_until_it_is_signed_and_then_it_is_locked(record):
    review = record.record()
    record.record(review, rag=Rag.RED, ksb_progress=record.levels(KsbProgressLevel.READY))
    assert review.rag is Rag.RED
    assert {p.level for p in review.ksb_progress} == {KsbProgressLevel.READY}
    assert len(review.ksb_progress) == len(record.version.ksbs)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "progress_review.corrected")) == 1

    progress_reviews.sign(record.apprentice, review, SigningParty.APPRENTICE)
    db.session.commit()
    error = refusal(lambda: record.record(review, rag=Rag.GREEN))
    assert error.message == "This review has been signed, so it can no longer be changed"
    assert review.rag is Rag.RED


# Signing ---------------------------------------------------------------------------------------


def test_three_signatures_complete_a_review(record):
    review = record.record()
    progress_reviews.sign(record.apprentice, review, SigningParty.APPRENTICE)
    progress_reviews.sign(record.first_supervisor, review, "employer")
    assert review.completed_at is None
    assert progress_reviews.review_state(review).label == "Awaiting a coordinator's signature"
    progress_reviews.sign(record.coordinator, review, SigningParty.COORDINATOR)
    db.session.commit()

    assert review.completed_at is not None
    assert {(s.party, s.person_id) for s in review.signatures} == {
        (SigningParty.APPRENTICE, record.apprentice.id), (SigningParty.EMPLOYER, record.first_supervisor.id),
        (SigningParty.COORDINATOR, record.coordinator.id)}
    assert progress_reviews.review_state(review).key == "complete"
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.subject_id == review.id,
                                                                 AuditEvent.subject_type == "progressreview")).all()
    assert actions.count("progress_review.signed") == 3
    assert "progress_review.completed" in actions


def test_a_review_cannot_be_signed_before_it_is_recorded(record):
    review = record.reviews[0]
    assert progress_reviews.parties_for(record.apprentice, review) == []
    error = refusal(lambda: progress_reviews.sign(record.apprentice, review, SigningParty.APPRENTICE))
    assert error.message == "This review has not been recorded yet, so it cannot be signed"


def test_who_may_sign_as_which_party(record):
    review = record.record()  # held during the first placement
    assert progress_reviews.parties_for(record.apprentice, review) == [SigningParty.APPRENTICE]
    assert progress_reviews.parties_for(record.first_supervisor, review) == [SigningParty.EMPLOYER]
    assert progress_reviews.parties_for(record.second_supervisor, review) == []
    assert progress_reviews.parties_for(record.coordinator, review) == [SigningParty.COORDINATOR]
    islington = make_coordinator("islington@example.org", scope=(ISLINGTON,), organisation_code=ISLINGTON)
    assert progress_reviews.parties_for(islington, review) == []

    cases = [
        (record.apprentice, SigningParty.EMPLOYER,
         "Only Sam Supervisor, who supervised the apprentice on {held}, can sign as the employer"),
        (record.second_supervisor, SigningParty.EMPLOYER,
         "Only Sam Supervisor, who supervised the apprentice on {held}, can sign as the employer"),
        (record.first_supervisor, SigningParty.APPRENTICE, "Only the apprentice, Ada Apprentice, can sign as the "
                                                           "apprentice"),
        (record.apprentice, SigningParty.COORDINATOR, "Only a coordinator of this apprenticeship can sign as the "
                                                      "coordinator"),
        (islington, SigningParty.COORDINATOR, "Only a coordinator of this apprenticeship can sign as the "
                                              "coordinator"),
    ]
    for person, party, message in cases:
        error = refusal(lambda person=person, party=party: progress_reviews.sign(person, review, party))
        assert error.message == message.format(held=f"{review.held_on:%-d %B %Y}"), (person.email, party)
    assert db.session.scalar(select(func.count()).select_from(ReviewSignature)) == 0


def test_in_a_gap_between_placements_the_last_supervisor_signs_as_the_employer(record):
    a = record.apprenticeship
    record.second.starts_on = clock.today() - timedelta(days=20)
    db.session.commit()
    review = record.reviews[1]
    gap_day = clock.today() - timedelta(days=40)
    record.record(review, held_on=gap_day)
    assert progress_reviews.employer_placement(a, gap_day) == record.first
    assert progress_reviews.parties_for(record.first_supervisor, review) == [SigningParty.EMPLOYER]
    assert progress_reviews.parties_for(record.second_supervisor, review) == []


def test_each_party_signs_once(record):
    review = record.record()
    progress_reviews.sign(record.apprentice, review, SigningParty.APPRENTICE)
    db.session.commit()
    error = refusal(lambda: progress_reviews.sign(record.apprentice, review, SigningParty.APPRENTICE))
    assert error.message == "You have already signed this review as the apprentice"
    other = make_coordinator("other@example.org", scope=(HACKNEY,))
    progress_reviews.sign(record.coordinator, review, SigningParty.COORDINATOR)
    db.session.commit()
    error = refusal(lambda: progress_reviews.sign(other, review, SigningParty.COORDINATOR))
    assert error.message == "Cora Coordinator has already signed this review as the coordinator"
    assert len(review.signatures) == 2


def test_one_person_signs_for_one_party_only(record):
    both = make_person("both@example.org", name="Bo Both", roles=(Role.SUPERVISOR, Role.COORDINATOR), scope=(HACKNEY,))
    record.first.supervisor_id = both.id
    db.session.commit()
    review = record.record()
    assert progress_reviews.parties_for(both, review) == [SigningParty.EMPLOYER, SigningParty.COORDINATOR]
    progress_reviews.sign(both, review, SigningParty.EMPLOYER)
    db.session.commit()
    assert progress_reviews.parties_for(both, review) == []
    error = refusal(lambda: progress_reviews.sign(both, review, SigningParty.COORDINATOR))
    assert error.message == ("You have already signed this review as the employer: someone else must sign as the "
                             "coordinator")


# States ----------------------------------------------------------------------------------------


def test_the_state_of_a_review(record):
    today = clock.today()
    first, second, third = record.reviews[:3]
    assert progress_reviews.review_state(first, today).label == "Overdue"
    assert progress_reviews.review_state(third, today).key == "scheduled"
    assert progress_reviews.review_state(third, third.due_on - timedelta(days=14)).label == "Due soon"
    assert progress_reviews.review_state(third, third.due_on - timedelta(days=15)).label == "Scheduled"
    assert progress_reviews.review_state(third, third.due_on).key == "due_soon"
    assert progress_reviews.review_state(third, third.due_on + timedelta(days=1)).key == "overdue"

    record.record(first)
    state = progress_reviews.review_state(first, today)
    assert (state.key, state.label) == ("awaiting_signatures", "Awaiting signatures from the apprentice, the "
                                                               "employer and a coordinator")
    assert state.waiting_for == tuple(SigningParty)
    progress_reviews.sign(record.coordinator, first, SigningParty.COORDINATOR)
    assert progress_reviews.review_state(first).label == "Awaiting signatures from the apprentice and the employer"
    progress_reviews.sign(record.apprentice, first, SigningParty.APPRENTICE)
    assert progress_reviews.review_state(first).label == "Awaiting the employer's signature"

    record.apprenticeship.actual_end_on = today - timedelta(days=30)
    record.apprenticeship.status = ApprenticeshipStatus.WITHDRAWN
    db.session.commit()
    assert progress_reviews.review_state(second, today).key == "not_held"


def test_overdue_reviews_by_scope(record):
    from app import policy

    overdue = progress_reviews.overdue_reviews()
    assert [r.id for r in overdue] == [r.id for r in record.reviews[:2]]
    hackney = policy.apprenticeship_scope_filter(record.coordinator)
    assert len(progress_reviews.overdue_reviews(hackney)) == 2
    islington = make_coordinator("islington@example.org", scope=(ISLINGTON,), organisation_code=ISLINGTON)
    assert progress_reviews.overdue_reviews(policy.apprenticeship_scope_filter(islington)) == []
    record.record(record.reviews[0])
    assert [r.id for r in progress_reviews.overdue_reviews(hackney)] == [record.reviews[1].id]
    flags = progress_reviews.review_flags_by_apprenticeship([record.apprenticeship.id])
    assert flags[record.apprenticeship.id] == progress_reviews.ReviewFlags(overdue=1, unsigned=1)
    record.apprenticeship.status = ApprenticeshipStatus.BREAK_IN_LEARNING
    db.session.commit()
    assert progress_reviews.overdue_reviews() == []


# Reviews to sign -------------------------------------------------------------------------------


def _to_sign(person) -> list[tuple[int, list[SigningParty]]]:
    db.session.expire_all()
    found = [(item.review.id, item.parties) for item in progress_reviews.reviews_to_sign(person)]
    # The light reading the home page uses lists the same.
    assert [(item.review_id, item.parties) for item in progress_reviews.reviews_waiting_for(person)] == found
    return found


def test_reviews_to_sign_for_each_party(record):
    first = record.record(record.reviews[0])
    second = record.record(record.reviews[1], held_on=clock.today() - timedelta(days=5))
    islington = make_coordinator("islington@example.org", scope=(ISLINGTON,), organisation_code=ISLINGTON)
    admin = make_person("admin@example.org", name="Alex Admin", roles=(Role.ADMIN,), organisation_code="LC")

    assert _to_sign(record.apprentice) == [(first.id, [SigningParty.APPRENTICE]),
                                           (second.id, [SigningParty.APPRENTICE])]
    assert _to_sign(record.first_supervisor) == [(first.id, [SigningParty.EMPLOYER])]
    assert _to_sign(record.second_supervisor) == [(second.id, [SigningParty.EMPLOYER])]
    assert _to_sign(record.coordinator) == [(first.id, [SigningParty.COORDINATOR]),
                                            (second.id, [SigningParty.COORDINATOR])]
    assert _to_sign(islington) == []
    assert _to_sign(admin) == []
    assert len(progress_reviews.reviews_to_sign(record.apprentice, limit=1)) == 1

    record.sign_all(first)
    progress_reviews.sign(record.apprentice, second, SigningParty.APPRENTICE)
    db.session.commit()
    assert _to_sign(record.apprentice) == []
    assert _to_sign(record.first_supervisor) == []
    assert _to_sign(record.coordinator) == [(second.id, [SigningParty.COORDINATOR])]


def test_the_home_links_the_apprentice_to_reviews_to_sign_and_counts_them_for_supervisors(client, new_client, record):
    first = record.record(record.reviews[0])
    second = record.record(record.reviews[1], held_on=clock.today() - timedelta(days=5))
    make_otj(record.apprenticeship)
    sign_in(client, record.apprentice)
    home = client.get("/")
    assert "Sign progress review 1" in text_of(home) and "Sign progress review 2" in text_of(home)
    assert f'href="{record.url(first)}"' in html_of(home) and f'href="{record.url(second)}"' in html_of(home)
    progress_reviews.sign(record.apprentice, first, SigningParty.APPRENTICE)
    db.session.commit()
    home = text_of(client.get("/"))
    assert "Sign progress review 1" not in home and "Sign progress review 2" in home

    to_sign = "1 review waiting for your signature as the employer:"
    for supervisor, expected in [
        (record.first_supervisor, ["Nothing waiting for your approval.", to_sign]),
        (record.second_supervisor, ["1 entry waiting, oldest first:", to_sign]),
    ]:
        browser = new_client()
        sign_in(browser, supervisor)
        home = text_of(browser.get("/"))
        assert all(text in home for text in expected), home
    progress_reviews.sign(record.first_supervisor, first, SigningParty.EMPLOYER)
    db.session.commit()
    browser = new_client()
    sign_in(browser, record.first_supervisor)
    assert "No progress reviews are waiting for your signature." in text_of(browser.get("/"))


def _queries(call) -> int:
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(statements)


def test_reviews_to_sign_takes_the_same_queries_however_many_there_are(record):
    coordinator = record.coordinator
    record.record(record.reviews[0])
    db.session.expire_all()
    few = _queries(lambda: progress_reviews.reviews_to_sign(coordinator))
    few_light = _queries(lambda: progress_reviews.reviews_waiting_for(coordinator))
    for n in range(4):
        a = make_apprenticeship(make_apprentice(f"more-{n}@example.org"), standard_version=record.version)
        make_placement(a, supervisor=make_supervisor(f"more-supervisor-{n}@example.org"))
        progress_reviews.record_review(coordinator, a.reviews[0], held_on=a.reviews[0].due_on, rag=Rag.GREEN,
                                       previous_actions=None, concerns=None, actions="Keep going",
                                       ksb_progress=record.levels())
    db.session.commit()
    db.session.expire_all()
    assert len(progress_reviews.reviews_to_sign(coordinator)) == 5
    db.session.expire_all()
    assert _queries(lambda: progress_reviews.reviews_to_sign(coordinator)) == few
    assert len(progress_reviews.reviews_waiting_for(coordinator)) == 5
    assert _queries(lambda: progress_reviews.reviews_waiting_for(coordinator)) == few_light == 1


# Pages -----------------------------------------------------------------------------------------


def test_the_reviews_page_lists_the_schedule_with_states(client, record):
    record.record(record.reviews[0], rag=Rag.AMBER)
    progress_reviews.sign(record.apprentice, record.reviews[0], SigningParty.APPRENTICE)
    db.session.commit()
    sign_in(client, record.coordinator)
    page = client.get(f"/apprenticeships/{record.apprenticeship.id}/reviews")
    assert page.status_code == 200
    assert page_title(page) == "Progress reviews: Ada Apprentice – Pathways"
    text = text_of(page)
    assert "due every 3 calendar months from the start" in text
    row = re.search(r'<tr class="govuk-table__row" id="review-1">.*?</tr>', html_of(page), re.S).group(0)
    assert "govuk-tag--orange" in row and ">Amber<" in row
    assert "Apprentice: Ada Apprentice" in row
    assert "Awaiting signatures from the employer and a coordinator" in row
    row2 = re.search(r'<tr class="govuk-table__row" id="review-2">.*?</tr>', html_of(page), re.S).group(0)
    assert "Overdue" in row2 and "Record" in row2
    assert "1 review is overdue" in text and "1 review is waiting for signatures" in text


def test_the_review_page_shows_the_content_and_offers_the_right_signature(client, record):
    review = record.record(record.reviews[0], concerns="Hours behind\nNeeds a mentor")
    sign_in(client, record.apprentice)
    page = client.get(record.url(review))
    assert page.status_code == 200
    assert page_title(page) == "Review 1: Ada Apprentice – Pathways"
    text = text_of(page)
    assert "Finish the data module." in text and "Hours behind" in text and "Needs a mentor" in text
    assert "Sign as the apprentice" in text and "Sign as the employer" not in text
    assert "By signing you confirm that this is an accurate record of progress review 1" in text
    assert "Correct this review" not in text

    response = post_form(client, record.url(review, "/sign"), {"party": "apprentice"}, token_from=record.url(review))
    assert response.status_code == 302
    page = client.get(record.url(review))
    assert "You have signed review 1 as the apprentice." in text_of(page)
    assert "Sign as the apprentice" not in text_of(page)


def test_the_apprentice_cannot_sign_as_the_employer(client, record):
    review = record.record()
    sign_in(client, record.apprentice)
    response = post_form(client, record.url(review, "/sign"), {"party": "employer"}, token_from=record.url(review))
    assert response.status_code == 400
    assert page_title(response).startswith("Error: ")
    assert "Only Sam Supervisor, who supervised the apprentice on" in text_of(response)
    assert 'href="#sign"' in html_of(response)
    assert review.signatures == []


def test_the_supervisor_of_another_placement_cannot_sign_as_the_employer(client, record):
    review = record.record()
    sign_in(client, record.second_supervisor)
    assert client.get(record.url(review)).status_code == 200  # a supervisor of the record may read it
    response = post_form(client, record.url(review, "/sign"), {"party": "employer"}, token_from=record.url(review))
    assert response.status_code == 400
    assert "can sign as the employer" in text_of(response)


def test_a_second_signature_for_a_party_is_refused_on_the_page(client, record):
    review = record.record()
    sign_in(client, record.apprentice)
    post_form(client, record.url(review, "/sign"), {"party": "apprentice"}, token_from=record.url(review))
    response = post_form(client, record.url(review, "/sign"), {"party": "apprentice"}, token_from=record.url(review))
    assert response.status_code == 400
    assert "You have already signed this review as the apprentice" in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(ReviewSignature)) == 1


def test_three_signatures_on_the_pages_complete_the_review(new_client, record):
    review = record.record()
    for person, party in ((record.apprentice, "apprentice"), (record.first_supervisor, "employer"),
                          (record.coordinator, "coordinator")):
        browser = new_client()
        sign_in(browser, person)
        response = post_form(browser, record.url(review, "/sign"), {"party": party}, token_from=record.url(review))
        assert response.status_code == 302
    page = browser.get(record.url(review))
    assert "The review is complete: all three have signed." in text_of(page)
    db.session.expire_all()
    assert db.session.get(ProgressReview, review.id).completed_at is not None


@pytest.mark.parametrize("who", ["unrelated supervisor", "other borough coordinator", "another apprentice"])
def test_people_outside_the_record_get_not_found(client, record, who):
    review = record.record()
    if who == "unrelated supervisor":
        person = make_supervisor("unrelated@example.org")
        other = make_apprenticeship()
        make_placement(other, supervisor=person)
    elif who == "other borough coordinator":
        person = make_coordinator("islington@example.org", scope=(ISLINGTON,), organisation_code=ISLINGTON)
    else:
        person = make_apprentice("someone-else@example.org", name="Sol Else")
    sign_in(client, person)
    a = record.apprenticeship.id
    for path in (f"/apprenticeships/{a}/reviews", record.url(review), record.url(review, "/record"),
                 f"/apprenticeships/{a}/ksbs"):
        assert client.get(path).status_code == 404, path
    response = post_form(client, record.url(review, "/sign"), {"party": "coordinator"},
                         token_from="/")
    assert response.status_code == 404


def test_a_review_of_another_apprenticeship_is_not_found_under_this_one(client, record):
    other = make_apprenticeship(standard_version=record.version)
    sign_in(client, record.coordinator)
    assert client.get(f"/apprenticeships/{record.apprenticeship.id}/reviews/{other.reviews[0].id}").status_code == 404


def test_recording_on_the_page_prefills_the_last_actions(client, record):
    record.record(record.reviews[0], actions="Shadow the data team.",
                  ksb_progress=record.levels(KsbProgressLevel.READY))
    sign_in(client, record.coordinator)
    path = record.url(record.reviews[1], "/record")
    page = client.get(path)
    assert page.status_code == 200
    assert page_title(page) == "Record review 2: Ada Apprentice – Pathways"
    html = html_of(page)
    assert re.search(r'<textarea[^>]*name="previous_actions"[^>]*>\s*Shadow the data team\.</textarea>', html)
    k1 = record.version.ksbs[0]
    assert re.search(rf'<label class="govuk-label govuk-visually-hidden" for="ksb_{k1.id}">\s*Progress on K1: ', html)
    assert re.search(rf'<select[^>]*id="ksb_{k1.id}"[^>]*>.*?<option value="ready" selected', html, re.S)
    assert "Approved by" in text_of(page) and "Expected by" in text_of(page)

    response = post_form(client, path, review_form(record, record.reviews[1], held_on=clock.today(),
                                                   previous_actions="Done."))
    assert response.status_code == 302
    assert response.headers["Location"] == record.url(record.reviews[1])
    review = db.session.get(ProgressReview, record.reviews[1].id)
    db.session.refresh(review)
    assert (review.held_on, review.rag, review.previous_actions) == (clock.today(), Rag.AMBER, "Done.")


def test_recording_on_the_page_shows_each_problem_beside_its_field(client, record):
    sign_in(client, record.coordinator)
    path = record.url(suffix="/record")
    k2 = record.version.ksbs[1]
    response = post_form(client, path, review_form(record, rag="", actions="", **{f"ksb_{k2.id}": ""}))
    assert response.status_code == 400
    assert page_title(response).startswith("Error: Record review 1")
    assert field_error(response, "rag") == "Select a RAG rating"
    assert field_error(response, "actions") == "Enter the actions agreed for before the next review"
    assert field_error(response, f"ksb_{k2.id}") == "Select the progress on K2"
    summary = re.search(r'<div class="govuk-error-summary".*?</ul>', html_of(response), re.S).group(0)
    listed = [" ".join(re.sub(r"<[^>]+>", " ", item).split()) for item in re.findall(r"<li>(.*?)</li>", summary, re.S)]
    assert listed == ["Select a RAG rating", "Select the progress on K2",
                      "Enter the actions agreed for before the next review"]

    future = clock.today() + timedelta(days=2)
    response = post_form(client, path, review_form(record, held_on=future))
    assert response.status_code == 400
    assert field_error(response, "held_on") == "The date the review was held must be today or in the past"
    assert record.reviews[0].held_on is None


def test_who_may_open_the_record_form(client, record):
    sign_in(client, record.apprentice)
    assert client.get(record.url(suffix="/record")).status_code == 403
    response = post_form(client, record.url(suffix="/record"), review_form(record), token_from=record.url())
    assert response.status_code == 403


def test_a_supervisor_records_on_the_page_only_inside_their_placement(client, record):
    sign_in(client, record.second_supervisor)
    path = record.url(suffix="/record")
    response = post_form(client, path, review_form(record))
    assert response.status_code == 400
    assert field_error(response, "held_on").startswith("You can record a review only if it was held during your")
    response = post_form(client, path, review_form(record, held_on=clock.today() - timedelta(days=10)))
    assert response.status_code == 302


def test_a_signed_review_cannot_be_opened_for_changes(client, record):
    review = record.record()
    progress_reviews.sign(record.apprentice, review, SigningParty.APPRENTICE)
    db.session.commit()
    sign_in(client, record.coordinator)
    response = client.get(record.url(review, "/record"))
    assert response.status_code == 302 and response.headers["Location"] == record.url(review)
    assert "This review has been signed, so it can no longer be changed." in text_of(client.get(record.url(review)))
    response = post_form(client, record.url(review, "/record"), review_form(record, rag="red"),
                         token_from=record.url(review))
    assert response.status_code == 302
    db.session.refresh(review)
    assert review.rag is Rag.GREEN


def test_the_reviews_to_sign_partial(app, record):
    from flask import render_template_string

    review = record.record()
    items = progress_reviews.reviews_to_sign(record.first_supervisor)
    with app.test_request_context():
        empty = render_template_string('{% include "apprenticeships/_reviews_to_sign.html" %}')
        html = render_template_string('{% include "apprenticeships/_reviews_to_sign.html" %}', reviews_to_sign=items)
    assert empty.strip() == ""
    assert "Progress reviews to sign" in html
    assert record.url(review) + "#sign" in html
    assert "sign as the employer" in " ".join(html.split())


def test_a_signature_made_a_moment_earlier_elsewhere_is_refused_cleanly(record):
    from sqlalchemy import insert

    from app.models.types import utcnow

    review = record.record()
    assert review.signatures == []  # this session has already looked: nobody had signed
    with db.engine.begin() as other:
        other.execute(insert(ReviewSignature).values(review_id=review.id, party=SigningParty.APPRENTICE.value,
                                                     person_id=record.apprentice.id, signed_at=utcnow()))
    error = refusal(lambda: progress_reviews.sign(record.apprentice, review, SigningParty.APPRENTICE))
    assert error.message == "This review has just been signed for that party by someone else"
    assert db.session.scalar(select(func.count()).select_from(ReviewSignature)) == 1
