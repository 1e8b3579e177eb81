"""The apprentice's panel on the home page: approved off-the-job hours against those expected by today (the same
figures as the record page), the placement now and the next, the next progress review, reviews to sign, rejected
hours to put right and what gateway still needs; and the same number of statements however long the record."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.extensions import db
from app.models import ApprenticeshipStatus, KsbProgressLevel, OtjStatus, Rag, Role, SigningParty
from app.services import clock, otj_totals, progress_reviews
from app.services.off_the_job import format_hours
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_otj,
    make_placement,
    make_standard_version,
    make_supervisor,
    make_team,
)
from tests.conftest import make_person, sign_in
from tests.home_panel_pages import links, part, present
from tests.pages import html_of, text_of
from tests.statements import counting_statements

HACKNEY, TOWER_HAMLETS = "E09000012", "E09000030"


def days_ago(n: int):
    return clock.today() - timedelta(days=n)


def days_on(n: int):
    return clock.today() + timedelta(days=n)


class Record:
    """Ada, 200 days into a 24-month apprenticeship employed by Hackney: on Sam's team in Hackney since 100 days
    ago until 20 days from now, then Pat's in Tower Hamlets; her reviews scheduled from the start."""

    def __init__(self):
        self.version = make_standard_version()
        self.coordinator = make_coordinator(scope=(HACKNEY,))
        self.apprentice = make_apprentice()
        self.supervisor = make_supervisor()
        self.next_supervisor = make_person("pat@example.org", name="Pat Okoye", roles=(Role.SUPERVISOR,),
                                           organisation_code=TOWER_HAMLETS)
        self.apprenticeship = make_apprenticeship(self.apprentice, standard_version=self.version,
                                                  starts_on=days_ago(200))
        a = self.apprenticeship
        self.current = make_placement(a, supervisor=self.supervisor, starts_on=days_ago(100), ends_on=days_on(20))
        self.next = make_placement(a, supervisor=self.next_supervisor, host_code=TOWER_HAMLETS,
                                   team=make_team(TOWER_HAMLETS, "Data and insight"), starts_on=days_on(21),
                                   ends_on=days_on(200))
        self.reviews = sorted(a.reviews, key=lambda r: r.sequence)

    def hold(self, review) -> None:
        progress_reviews.record_review(
            self.coordinator, review, held_on=min(review.due_on, clock.today()), rag=Rag.GREEN,
            previous_actions=None, concerns=None, actions="Log hours every week.",
            ksb_progress={k.id: KsbProgressLevel.IN_PROGRESS.value for k in self.version.ksbs})
        db.session.commit()

    def home(self, client):
        sign_in(client, self.apprentice)
        return client.get("/")


@pytest.fixture
def record():
    return Record()


# Off-the-job hours ------------------------------------------------------------------------------


def test_the_bar_shows_exactly_the_approved_hours_against_those_expected_by_today(client, record):
    a = record.apprenticeship
    # 125 + 100 + 20 minutes approved: 4.08 hours; waiting and rejected hours do not count.
    for minutes, n in ((125, 10), (100, 12), (20, 14)):
        make_otj(a, on=days_ago(n), minutes=minutes, status=OtjStatus.APPROVED)
    make_otj(a, on=days_ago(3), minutes=300)
    make_otj(a, on=days_ago(4), minutes=60, status=OtjStatus.REJECTED)
    expected = otj_totals.expected_hours(a, clock.today())
    percent = int(otj_totals.totals(a).approved_hours * 100 / expected)

    home = record.home(client)

    assert part(home, "apprentice-hours-figure") == (
        f"4.08 of {format_hours(expected)} hours expected by today ({percent}%)")
    assert f"app-progress__bar--{percent // 10 * 10}" in html_of(home)
    assert "5 hours are waiting for approval." in part(home, "apprentice-hours-pace")
    assert f"Behind the plan by {format_hours(expected - otj_totals.totals(a).approved_hours)} hours" in part(
        home, "apprentice-hours-pace")
    # The figures are the off-the-job page's.
    overview = html_of(client.get(f"/apprenticeships/{a.id}/off-the-job"))
    shown = dict(re.findall(r'data-figure="(\w+)">\s*<span[^>]*>[^<]*</span>\s*<span class="app-figures__value">'
                            r"([^<]+)</span>", overview))
    assert (shown["approved"], shown["expected"]) == ("4.08", format_hours(expected))
    assert ("Log off-the-job hours", f"/apprenticeships/{a.id}/off-the-job/new") in links(home, "apprentice-panel")


def test_hours_at_or_ahead_of_the_plan_are_on_track(client, record):
    a = record.apprenticeship
    expected = otj_totals.expected_hours(a, clock.today())
    # A day's most at a time, enough to pass what is expected by today.
    per_day = 7 * 60
    for n in range(int(expected * 60 // per_day) + 1):
        make_otj(a, on=days_ago(2 + n), minutes=per_day, status=OtjStatus.APPROVED)

    home = record.home(client)

    assert part(home, "apprentice-hours-pace").startswith("On track")
    assert "app-progress__bar--100" in html_of(home)


# Placements and reviews ------------------------------------------------------------------------


def test_the_placement_now_and_the_next(client, record):
    home = record.home(client)

    assert part(home, "apprentice-placement") == (
        f"Digital services, London Borough of Hackney, supervised by Sam Supervisor, until {days_on(20):%-d %B %Y}.")
    assert part(home, "apprentice-next-placement") == (
        f"Data and insight, London Borough of Tower Hamlets, supervised by Pat Okoye, from {days_on(21):%-d %B %Y} "
        f"to {days_on(200):%-d %B %Y}.")


def test_between_placements_the_panel_says_so(client):
    apprentice = make_apprentice()
    make_apprenticeship(apprentice, starts_on=days_ago(10))
    sign_in(client, apprentice)
    home = client.get("/")
    assert part(home, "apprentice-placement") == "You are not on a placement today."
    assert part(home, "apprentice-next-placement") == "No next placement has been arranged yet."


def test_the_next_review_is_the_first_not_held_and_overdue_once_its_date_has_passed(client, record):
    first, second = record.reviews[:2]
    assert first.due_on < clock.today(), "200 days in, the first review is due"

    home = record.home(client)
    assert part(home, "apprentice-next-review") == (
        f"Overdue Your next review, review 1, was due on {first.due_on:%-d %B %Y}.")

    for review in record.reviews:
        if review.due_on > clock.today():
            break
        record.hold(review)
    upcoming = next(r for r in record.reviews if r.held_on is None)
    shown = part(client.get("/"), "apprentice-next-review")
    assert shown.endswith(f"Your next review, review {upcoming.sequence}, is due on {upcoming.due_on:%-d %B %Y}.")
    assert "Overdue" not in shown
    assert second.held_on is not None or second.due_on > clock.today()


def test_reviews_waiting_for_the_apprentice_link_to_where_they_sign(client, record):
    first = record.reviews[0]
    record.hold(first)

    home = record.home(client)
    assert links(home, "apprentice-reviews-to-sign") == [
        ("Sign progress review 1", f"/apprenticeships/{record.apprenticeship.id}/reviews/{first.id}")]

    progress_reviews.sign(record.apprentice, first, SigningParty.APPRENTICE)
    db.session.commit()
    assert part(client.get("/"), "apprentice-reviews-to-sign") == "No progress reviews are waiting for your signature."


# Rejected hours and gateway -------------------------------------------------------------------------


def test_rejected_hours_are_listed_until_logged_again_for_that_day(client, record):
    a = record.apprenticeship
    meeting = make_otj(a, on=days_ago(30), minutes=90, status=OtjStatus.REJECTED)
    meeting.rejection_reason = "A team meeting is part of the job: log the training it led to."
    lump = make_otj(a, on=days_ago(20), minutes=45, status=OtjStatus.REJECTED)
    db.session.commit()

    home = record.home(client)
    assert links(home, "apprentice-rejected") == [
        (f"45 minutes on {days_ago(20):%-d %B %Y}", f"/apprenticeships/{a.id}/off-the-job/{lump.id}"),
        (f"1 hour 30 minutes on {days_ago(30):%-d %B %Y}", f"/apprenticeships/{a.id}/off-the-job/{meeting.id}"),
    ]
    assert "Reason: A team meeting is part of the job" in part(home, "apprentice-rejected")
    assert "2 rejected entries" in text_of(home)

    make_otj(a, on=days_ago(30), minutes=60, description="Training on the new case management system.")
    home = client.get("/")
    assert [text for text, _href in links(home, "apprentice-rejected")] == [f"45 minutes on {days_ago(20):%-d %B %Y}"]
    assert "1 rejected entry:" in text_of(home)


def test_no_rejected_hours_says_so(client, record):
    assert part(record.home(client), "apprentice-rejected") == "None of your hours need putting right."


def test_what_gateway_still_needs(client, record):
    home = record.home(client)
    missing = part(home, "apprentice-gateway")
    assert "No evidence yet for K1, K2, K3, S1, S2, S3, B1, B2" in missing
    assert "The employer has not yet agreed the apprentice is ready" in missing
    assert "English and maths" not in missing  # achieved
    assert ("Your KSBs and gateway checklist", f"/apprenticeships/{record.apprenticeship.id}/ksbs") in links(
        home, "apprentice-panel")


# Who sees it --------------------------------------------------------------------------------------


def test_an_apprentice_without_a_record_is_told_what_will_appear(client):
    sign_in(client, make_apprentice("nia@example.org", name="Nia Newcomer"))
    shown = part(client.get("/"), "apprentice-panel")
    assert "will appear here once a coordinator sets up your apprenticeship record" in shown


def test_a_finished_apprenticeship_asks_for_nothing_more(client):
    apprentice = make_apprentice()
    a = make_apprenticeship(apprentice, starts_on=days_ago(800), status=ApprenticeshipStatus.COMPLETED)
    a.actual_end_on = days_ago(30)
    db.session.commit()
    sign_in(client, apprentice)
    home = client.get("/")
    assert "Software developer, level 4: completed." in part(home, "apprentice-panel")
    assert part(home, "apprentice-next-review") == "Progress reviews have ended with your apprenticeship."
    assert "Log off-the-job hours" not in text_of(home)
    assert not present(home, "apprentice-gateway")


def test_an_apprentices_home_does_not_say_they_have_no_roles(client, record):
    assert "has no roles yet" not in text_of(record.home(client))


def test_people_who_are_not_apprentices_have_no_apprentice_panel(client, record):
    sign_in(client, record.supervisor)
    assert not present(client.get("/"), "apprentice-panel")


def test_the_panel_is_the_apprentices_own(client, record):
    other = make_apprentice("bea@example.org", name="Bea Other")
    make_apprenticeship(other, starts_on=days_ago(10))
    make_otj(record.apprenticeship, on=days_ago(5), minutes=125, status=OtjStatus.APPROVED)
    sign_in(client, other)
    home = client.get("/")
    assert part(home, "apprentice-hours-figure").startswith("0 of ")
    assert f"/apprenticeships/{record.apprenticeship.id}" not in html_of(home)


# Statements ---------------------------------------------------------------------------------------


def _grow(record: Record, *, start: int, count: int) -> None:
    """``count`` more of everything the panel reads: approved, waiting and rejected entries, earlier placements
    and reviews held and waiting for signatures."""
    a = record.apprenticeship
    for n in range(count):
        day = start + 3 * n
        make_otj(a, on=days_ago(day), minutes=95, status=OtjStatus.APPROVED)
        make_otj(a, on=days_ago(day + 1), minutes=40)
        make_otj(a, on=days_ago(day + 2), minutes=30, status=OtjStatus.REJECTED)


def test_the_number_of_statements_does_not_grow_with_the_record(client, record):
    a = record.apprenticeship
    record.hold(record.reviews[0])
    _grow(record, start=2, count=2)
    sign_in(client, record.apprentice)
    client.get("/")
    with counting_statements() as small:
        assert client.get("/").status_code == 200

    _grow(record, start=8, count=25)
    make_placement(a, supervisor=record.supervisor, starts_on=days_ago(200), ends_on=days_ago(160))
    make_placement(a, supervisor=record.next_supervisor, starts_on=days_ago(159), ends_on=days_ago(101))
    record.hold(record.reviews[1])
    client.get("/")
    with counting_statements() as larger:
        home = client.get("/")

    assert len(links(home, "apprentice-reviews-to-sign")) == 2
    assert len(links(home, "apprentice-rejected")) == 5
    assert len(larger) == len(small), "\n".join(larger)
