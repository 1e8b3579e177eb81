"""The coordinator's panel on the home page: red and amber ratings and overdue reviews as the cohort review counts
them, off-the-job hours waiting longest, placements ending with nothing next, course runs starting soon with their
fill, and certificates waiting; each scoped as the cohort review is (a borough coordinator sees the apprentices
employed by or placed in their organisations), and in a number of SQL statements that does not grow with the
data."""

from __future__ import annotations

import re
from datetime import timedelta

from app.extensions import db
from app.models import OtjStatus, RiskRating
from app.models.types import utcnow
from app.services import clock
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_intake,
    make_otj,
    make_placement,
    make_standard_version,
)
from tests.certificate_factories import (
    issue_course_certificate,
    make_completed_apprenticeship,
    make_completed_enrolment,
)
from tests.conftest import make_person, sign_in
from tests.course_factories import enrol, make_learner, make_learning_course, make_run
from tests.statements import counting_statements
from tests.test_cohort_review import flag

HACKNEY, TOWER_HAMLETS, LAMBETH = "E09000012", "E09000030", "E09000022"


def html_of(response) -> str:
    assert response.status_code == 200
    return response.get_data(as_text=True)


def element(html: str, element_id: str) -> str:
    """The text of the element with ``element_id`` (up to its closing tag), tags removed, spaces collapsed."""
    match = re.search(rf'<(\w+)[^>]*id="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, f"no #{element_id}"
    return " ".join(re.sub(r"<[^>]+>", "", match.group(2)).split())


def review_total(client, query: str) -> int:
    """The count the cohort review of all apprentices shows for ``query``."""
    text = element(html_of(client.get(f"/cohort-review/apprentices?{query}")), "result-count")
    return int(text.split()[0])


def apprenticeship(name: str, employer: str, *, host: str | None = None, version=None, **kwargs):
    record = make_apprenticeship(
        make_apprentice(f"{name.split()[0].lower()}.{employer}@example.org", name=name, organisation_code=employer),
        employer_code=employer, standard_version=version, schedule=False, **kwargs)
    make_placement(record, host_code=host or employer)
    return record


def rated_world():
    """Hackney's: Amal red with a review overdue, Bo amber (employed by Tower Hamlets, placed in Hackney), Cy red
    and Dee green; out of Hackney's scope: Eve red (Lambeth) and Fay amber with a review overdue (Tower Hamlets)."""
    version = make_standard_version("ST0116")
    amal = apprenticeship("Amal Hackney", HACKNEY, version=version)
    bo = apprenticeship("Bo Placed", TOWER_HAMLETS, host=HACKNEY, version=version)
    cy = apprenticeship("Cy Hackney", HACKNEY, version=version)
    apprenticeship("Dee Hackney", HACKNEY, version=version)
    eve = apprenticeship("Eve Lambeth", LAMBETH, version=version)
    fay = apprenticeship("Fay Tower", TOWER_HAMLETS, version=version)
    flag(amal, "review_overdue", RiskRating.RED, "Review 2 was due", stand=False)
    flag(amal, "placement_gap", RiskRating.AMBER, "Gap", stand=False)
    flag(bo, "review_unsigned", RiskRating.AMBER, "Not signed", stand=False)
    flag(cy, "otj_behind", RiskRating.RED, "Behind", stand=False)
    flag(eve, "otj_behind", RiskRating.RED, "Behind", stand=False)
    flag(fay, "review_overdue", RiskRating.AMBER, "Due", stand=False)
    flag(fay, "placement_gap", RiskRating.AMBER, "Gap")  # writes every standing and review row


def test_red_amber_and_overdue_reviews_are_the_cohort_reviews_figures_for_a_borough(client):
    rated_world()
    borough = make_coordinator("hackney@example.org", scope=(HACKNEY,))
    sign_in(client, borough)
    html = html_of(client.get("/"))
    assert element(html, "coordinator-red") == "2 apprentices rated red"
    assert element(html, "coordinator-amber") == "1 apprentice rated amber"
    assert element(html, "coordinator-reviews-overdue") == "1 apprentice with a progress review overdue"
    assert 'href="/cohort-review/apprentices?rating=red"' in html
    assert 'href="/cohort-review/apprentices?flag=review_overdue"' in html
    assert "London Borough of Hackney" in element(html, "coordinator-scope")
    # The same figures as the review pages the links open.
    assert review_total(client, "rating=red") == 2
    assert review_total(client, "rating=amber") == 1
    assert review_total(client, "flag=review_overdue") == 1


def test_a_programme_wide_coordinator_counts_every_organisation(client):
    rated_world()
    sign_in(client, make_coordinator("everyone@example.org", scope=()))
    html = html_of(client.get("/"))
    assert element(html, "coordinator-red") == "3 apprentices rated red"
    assert element(html, "coordinator-amber") == "2 apprentices rated amber"
    assert element(html, "coordinator-reviews-overdue") == "2 apprentices with a progress review overdue"
    assert element(html, "coordinator-scope") == "You coordinate every organisation."
    assert review_total(client, "rating=red") == 3
    assert review_total(client, "rating=amber") == 2


def test_hours_waiting_longest_come_first_with_how_long_they_have_waited(client):
    hackney = apprenticeship("Amal Hackney", HACKNEY)
    placed = apprenticeship("Bo Placed", TOWER_HAMLETS, host=HACKNEY)
    elsewhere = apprenticeship("Eve Lambeth", LAMBETH)
    now = utcnow()
    for record, days, minutes in ((hackney, 2, 60), (placed, 9, 90), (hackney, 0, 30), (elsewhere, 20, 45)):
        entry = make_otj(record, minutes=minutes, on=clock.today() - timedelta(days=days + 1))
        entry.logged_at = now - timedelta(days=days, hours=1)
    make_otj(hackney, status=OtjStatus.APPROVED)  # decided: not waiting
    db.session.commit()
    sign_in(client, make_coordinator("hackney@example.org", scope=(HACKNEY,)))
    html = html_of(client.get("/"))
    assert element(html, "coordinator-hours-waiting") == "3 off-the-job entries waiting for approval"
    oldest = element(html, "coordinator-oldest-hours")
    assert oldest.index("Bo Placed") < oldest.index("Amal Hackney")
    assert "waiting 9 days" in oldest and "waiting 2 days" in oldest and "waiting since today" in oldest
    assert "Eve Lambeth" not in oldest
    assert f'href="/apprenticeships/{placed.id}/off-the-job/' in html


def test_placements_ending_with_nothing_next(client):
    today = clock.today()
    ending = make_apprenticeship(make_apprentice("ending@example.org", name="Ending Soon"), schedule=False)
    make_placement(ending, ends_on=today + timedelta(days=10))
    followed = make_apprenticeship(make_apprentice("followed@example.org", name="Has Next"), schedule=False)
    make_placement(followed, ends_on=today + timedelta(days=5))
    make_placement(followed, host_code=TOWER_HAMLETS, starts_on=today + timedelta(days=6),
                   ends_on=today + timedelta(days=200))
    later = make_apprenticeship(make_apprentice("later@example.org", name="Ends Later"), schedule=False)
    make_placement(later, ends_on=today + timedelta(days=40))
    elsewhere = make_apprenticeship(make_apprentice("tower@example.org", name="Tower Ending",
                                                    organisation_code=TOWER_HAMLETS),
                                    employer_code=TOWER_HAMLETS, schedule=False)
    make_placement(elsewhere, host_code=TOWER_HAMLETS, ends_on=today + timedelta(days=3))
    sign_in(client, make_coordinator("hackney@example.org", scope=(HACKNEY,)))
    html = html_of(client.get("/"))
    listed = element(html, "coordinator-placements-ending")
    assert "Ending Soon" in listed and "in 10 days" in listed
    assert "Has Next" not in listed and "Ends Later" not in listed and "Tower Ending" not in listed
    assert f'href="/apprenticeships/{ending.id}/placements"' in html
    assert "1 placement ends within 28 days" in html


def test_runs_starting_this_week_with_their_fill(client):
    course = make_learning_course("leading-digital-change")
    soon = make_run(course, name="December", starts_in=3, capacity=10)
    make_run(course, name="Spring", starts_in=30, capacity=10)
    enrol(make_learner(organisation_code=HACKNEY), soon)
    enrol(make_learner(organisation_code=TOWER_HAMLETS), soon)
    sign_in(client, make_coordinator("hackney@example.org", scope=(HACKNEY,)))
    listed = element(html_of(client.get("/")), "coordinator-runs-starting")
    assert "Leading digital change, December" in listed
    assert "2 enrolled of 10 places" in listed and "1 from your organisations" in listed
    assert "Spring" not in listed


def test_certificates_waiting_by_cohort_in_scope(client):
    intake = make_intake("September 2025")
    make_completed_apprenticeship(intake=intake)
    make_completed_apprenticeship(intake=intake, employer_code=LAMBETH, hosts=(LAMBETH,))  # not Hackney's
    issued = make_completed_enrolment(run_name="Autumn")
    make_completed_enrolment(run=issued.run)
    make_completed_enrolment(run=issued.run, organisation_code=TOWER_HAMLETS)  # not Hackney's
    issue_course_certificate(issued)
    sign_in(client, make_coordinator("hackney@example.org", scope=(HACKNEY,)))
    html = html_of(client.get("/"))
    listed = element(html, "coordinator-certificates-waiting")
    assert "Intake September 2025: 1 waiting" in listed
    assert "Autumn: 1 waiting" in listed
    assert "2 completions have no certificate yet" in html
    assert f'href="/intakes/{intake.id}/certificates"' in html
    assert f'href="/runs/{issued.run_id}/certificates"' in html


def test_empty_states_say_what_is_clear(client):
    sign_in(client, make_coordinator("hackney@example.org", scope=(HACKNEY,)))
    html = html_of(client.get("/"))
    assert element(html, "coordinator-red") == "0 apprentices rated red"
    assert "Nobody is rated red or amber" in html
    assert element(html, "coordinator-oldest-hours") == "No off-the-job hours are waiting for approval."
    assert element(html, "coordinator-certificates-waiting") == "Every completion has its certificate."
    assert "No course run starts in the next 7 days" in element(html, "coordinator-runs-starting")


def test_people_who_coordinate_nothing_have_no_coordinator_panel(client):
    sign_in(client, make_person("learner@example.org"))
    assert 'id="coordinator-panel"' not in html_of(client.get("/"))


def seed(size: int, offset: int = 0) -> None:
    """``size`` of everything the panel counts, in and out of Hackney's scope."""
    today = clock.today()
    version = make_standard_version(f"ST{5000 + offset}")
    intake = make_intake(f"Intake {offset}")
    course = make_learning_course(f"course-{offset}")
    run = make_run(course, name=f"Run {offset}", starts_in=2, capacity=size * 2)
    for n in range(size):
        for employer in (HACKNEY, TOWER_HAMLETS):
            record = make_apprenticeship(make_apprentice(f"a{offset}-{n}-{employer}@example.org",
                                                         organisation_code=employer),
                                         employer_code=employer, standard_version=version, schedule=False)
            make_placement(record, host_code=employer, ends_on=today + timedelta(days=10 + n))
            make_otj(record)
            flag(record, "otj_behind", RiskRating.RED if n % 2 else RiskRating.AMBER, "Behind", stand=False)
            enrol(make_learner(organisation_code=employer), run)
            make_completed_apprenticeship(intake=intake, employer_code=employer, hosts=(employer,))
        make_completed_enrolment(course=course, run=run)
    flag(record, "review_overdue", RiskRating.RED, "Due")


def home_statements(client) -> int:
    with counting_statements() as statements:
        html_of(client.get("/"))
    return len(statements)


def test_the_home_page_runs_as_many_statements_for_a_large_cohort_as_for_a_small_one(new_client):
    browsers = [new_client(), new_client()]
    for browser, person in zip(browsers, (make_coordinator("hackney@example.org", scope=(HACKNEY,)),
                                          make_coordinator("everyone@example.org", scope=())), strict=True):
        sign_in(browser, person)
    seed(1)
    small = []
    for browser in browsers:
        home_statements(browser)  # the first request fills caches
        small.append(home_statements(browser))
    seed(6, offset=1)
    large = []
    for browser, red in zip(browsers, (3, 7), strict=True):
        html = html_of(browser.get("/"))
        assert element(html, "coordinator-red") == f"{red} apprentices rated red"
        large.append(home_statements(browser))
    assert large == small
