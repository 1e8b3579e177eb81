"""The supervisor's panel on the home page: the hours waiting for their approval (how many, the oldest first), the
reviews waiting for their signature, the apprentices placed with them now and each one's rating, and the placements
ending soon; only their own apprentices; and the same number of statements however many there are."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ApprenticeshipReviewRow, KsbProgressLevel, OtjStatus, Rag, RiskRating, SigningParty
from app.services import clock, progress_reviews, review_rows
from app.services.homes.supervisor import ENDING_SOON_DAYS, OLDEST_SHOWN
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_otj,
    make_placement,
    make_standard_version,
    make_supervisor,
)
from tests.conftest import sign_in
from tests.home_panel_pages import links, part, present
from tests.pages import html_of
from tests.statements import counting_statements

HACKNEY = "E09000012"


def days_ago(n: int):
    return clock.today() - timedelta(days=n)


def days_on(n: int):
    return clock.today() + timedelta(days=n)


def day(value) -> str:
    return f"{value:%-d %B %Y}"


class Team:
    """Sam supervises Ada (placed until 10 days from now, nothing after) and Ben (until 60 days from now); Ola
    supervises Cy. Each apprenticeship started 200 days ago."""

    def __init__(self):
        self.version = make_standard_version()
        self.coordinator = make_coordinator(scope=(HACKNEY,))
        self.sam = make_supervisor("sam@example.org")
        self.ola = make_supervisor("ola@example.org")
        self.ada, self.ada_placement = self.placed("ada@example.org", "Ada Apprentice", self.sam, days_on(10))
        self.ben, self.ben_placement = self.placed("ben@example.org", "Ben Brown", self.sam, days_on(60))
        self.cy, self.cy_placement = self.placed("cy@example.org", "Cy Other", self.ola, days_on(60))

    def placed(self, email, name, supervisor, ends_on):
        apprenticeship = make_apprenticeship(make_apprentice(email, name=name), standard_version=self.version,
                                             starts_on=days_ago(200))
        placement = make_placement(apprenticeship, supervisor=supervisor, starts_on=days_ago(150), ends_on=ends_on)
        return apprenticeship, placement

    def home(self, client, supervisor=None):
        sign_in(client, supervisor or self.sam)
        return client.get("/")


@pytest.fixture
def team():
    return Team()


def _hold(team: Team, apprenticeship):
    review = min(apprenticeship.reviews, key=lambda r: r.sequence)
    progress_reviews.record_review(
        team.coordinator, review, held_on=review.due_on, rag=Rag.GREEN, previous_actions=None, concerns=None,
        actions="Log hours every week.",
        ksb_progress={k.id: KsbProgressLevel.IN_PROGRESS.value for k in team.version.ksbs})
    db.session.commit()
    return review


# Hours waiting ---------------------------------------------------------------------------------------


def test_hours_waiting_are_counted_and_the_oldest_listed_first(client, team):
    entries = {n: make_otj(team.ada if n % 2 else team.ben, on=days_ago(n), minutes=90) for n in (5, 30, 12, 20, 8)}
    make_otj(team.cy, on=days_ago(40), minutes=60)  # Ola's to approve
    make_otj(team.ada, on=days_ago(50), minutes=60, status=OtjStatus.APPROVED)

    home = team.home(client)

    assert part(home, "supervisor-hours-count") == f"5 entries waiting; the oldest {OLDEST_SHOWN}:"
    oldest = [entries[30], entries[20], entries[12]][:OLDEST_SHOWN]
    assert links(home, "supervisor-oldest-waiting") == [
        (f"{'Ben Brown' if e.apprenticeship_id == team.ben.id else 'Ada Apprentice'}: 1 hour 30 minutes on "
         f"{day(e.occurred_on)}", f"/apprenticeships/{e.apprenticeship_id}/off-the-job/{e.id}?from=queue")
        for e in oldest]
    assert ("Approve or reject hours", "/supervising#hours-to-approve") in links(home, "supervisor-panel")


def test_nothing_waiting_says_so(client, team):
    home = team.home(client)
    assert part(home, "supervisor-hours-count") == "Nothing waiting for your approval."
    assert part(home, "supervisor-reviews-count") == "No progress reviews are waiting for your signature."


# Reviews to sign ------------------------------------------------------------------------------------


def test_reviews_waiting_for_the_supervisors_signature_link_to_where_they_sign(client, team):
    review = _hold(team, team.ada)
    _hold(team, team.cy)  # Ola's to sign

    home = team.home(client)
    assert part(home, "supervisor-reviews-count") == "1 review waiting for your signature as the employer:"
    assert links(home, "supervisor-reviews-to-sign") == [
        ("Sign review 1 of Ada Apprentice", f"/apprenticeships/{team.ada.id}/reviews/{review.id}#sign")]

    progress_reviews.sign(team.sam, review, SigningParty.EMPLOYER)
    db.session.commit()
    assert part(client.get("/"), "supervisor-reviews-count") == "No progress reviews are waiting for your signature."


# Apprentices placed now -----------------------------------------------------------------------------


def test_apprentices_placed_now_with_their_rating_red_first(client, team):
    # Ben has logged plenty; Ada nothing in 200 days, so she is behind the plan whatever else is flagged.
    for n in range(2, 60):
        make_otj(team.ben, on=days_ago(n), minutes=7 * 60, status=OtjStatus.APPROVED)
    review_rows.refresh_for([team.ada.id, team.ben.id, team.cy.id])
    db.session.commit()
    ratings = dict(db.session.execute(select(ApprenticeshipReviewRow.apprenticeship_id,
                                             ApprenticeshipReviewRow.rating)).all())
    assert ratings[team.ada.id] is RiskRating.RED

    home = team.home(client)
    table = part(home, "supervisor-placed")
    assert [text for text, _href in links(home, "supervisor-placed")] == ["Ada Apprentice", "Ben Brown"]
    assert ("Ada Apprentice", f"/apprenticeships/{team.ada.id}") in links(home, "supervisor-placed")
    assert part(home, f"placed-{team.ada_placement.id}").startswith(
        f"Ada Apprentice Digital services, London Borough of Hackney {day(days_on(10))} Red")
    assert "Off-the-job hours behind plan (red)" in part(home, f"placed-{team.ada_placement.id}")
    assert ratings[team.ben.id].label in part(home, f"placed-{team.ben_placement.id}")
    reds = sum(1 for a in (team.ada, team.ben) if ratings[a.id] is RiskRating.RED)
    assert table.startswith(f"2 apprentices: {reds} red")
    assert "Cy Other" not in html_of(home)


def test_a_supervisor_sees_only_the_apprentices_placed_with_them(client, team):
    make_otj(team.cy, on=days_ago(3), minutes=60)
    home = team.home(client, team.ola)
    assert [text for text, _href in links(home, "supervisor-placed")] == ["Cy Other"]
    assert "Ada Apprentice" not in html_of(home) and "Ben Brown" not in html_of(home)
    assert part(home, "supervisor-hours-count").startswith("1 entry waiting")
    assert part(home, f"placed-{team.cy_placement.id}").endswith("Not worked out yet")


def test_placements_ending_soon(client, team):
    home = team.home(client)
    assert part(home, "supervisor-ending-soon") == (
        f"Ada Apprentice: Digital services, London Borough of Hackney, ends on {day(days_on(10))}. "
        "No placement is arranged after it yet.")

    make_placement(team.ada, supervisor=team.ola, starts_on=days_on(11), ends_on=days_on(100))
    make_placement(team.ben, supervisor=team.ola, starts_on=days_on(61), ends_on=days_on(100))
    assert part(client.get("/"), "supervisor-ending-soon").endswith("Their next placement is arranged.")


def test_no_one_placed_says_so(client, team):
    nobody = make_supervisor("new@example.org")
    make_placement(team.cy, supervisor=nobody, starts_on=days_on(61), ends_on=days_on(90))  # not yet started
    home = team.home(client, nobody)
    assert part(home, "supervisor-placed") == "Nobody is placed with you today."
    assert part(home, "supervisor-ending-soon") == f"No placement with you ends in the next {ENDING_SOON_DAYS} days."


def test_a_supervisors_home_does_not_say_they_have_no_roles(client, team):
    assert "has no roles yet" not in html_of(team.home(client))


def test_people_who_are_not_supervisors_have_no_supervisor_panel(client, team):
    sign_in(client, team.ada.apprentice)
    assert not present(client.get("/"), "supervisor-panel")


# Statements -----------------------------------------------------------------------------------------


def _more_apprentices(team: Team, count: int, *, first: int) -> None:
    for n in range(first, first + count):
        apprenticeship, _ = team.placed(f"apprentice-{n}@example.org", f"Apprentice {n}", team.sam,
                                        days_on(5 + n % 40))
        make_otj(apprenticeship, on=days_ago(3 + n % 20), minutes=60)
        make_otj(apprenticeship, on=days_ago(25 + n % 20), minutes=60, status=OtjStatus.APPROVED)
        _hold(team, apprenticeship)
        review_rows.refresh_for([apprenticeship.id])
    db.session.commit()


def test_the_number_of_statements_does_not_grow_with_the_apprentices(client, team):
    _more_apprentices(team, 2, first=1)
    sign_in(client, team.sam)
    client.get("/")
    with counting_statements() as small:
        assert client.get("/").status_code == 200

    _more_apprentices(team, 12, first=3)
    client.get("/")
    with counting_statements() as larger:
        home = client.get("/")

    assert len(links(home, "supervisor-placed")) == 16
    assert part(home, "supervisor-hours-count").startswith("14 entries waiting")
    assert len(larger) == len(small), "\n".join(larger)
