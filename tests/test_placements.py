"""Placements across boroughs: adding and changing them (the rules, each refusal beside its field), team capacity,
the apprentice's timeline with its gaps, the supervisor's feedback, and who may see or change what."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import date, timedelta
from html import unescape

import pytest
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import ApprenticeshipStatus, AuditEvent, Placement, Role, Team
from app.services import ServiceError, accounts, clock, placements
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_placement,
    make_standard_version,
    make_supervisor,
    make_team,
)
from tests.conftest import make_person, organisation, post_form, sign_in
from tests.pages import field_error, html_of, page_title, text_of

HACKNEY, TOWER_HAMLETS, ISLINGTON = "E09000012", "E09000030", "E09000019"


def day(value: date) -> str:
    return value.strftime("%-d %B %Y")


def dmy(value: date) -> list[str]:
    return [str(value.day), str(value.month), str(value.year)]


def form_data(team, supervisor, starts_on: date, ends_on: date, *, objectives="Build the housing repairs service.",
              ksbs=()) -> dict:
    return {"team": str(team.id), "supervisor": str(supervisor.id), "starts_on": dmy(starts_on),
            "ends_on": dmy(ends_on), "objectives": objectives, "ksb_ids": [str(k.id) for k in ksbs]}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def error_summary(response) -> list[str]:
    block = re.search(r'<div class="govuk-error-summary".*?</ul>', html_of(response), re.S)
    if not block:
        return []
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", item)).split())
            for item in re.findall(r"<li>(.*?)</li>", block.group(0), re.S)]


@contextmanager
def counting_queries():
    statements: list[str] = []

    def note(_connection, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


@pytest.fixture
def record():
    """Ada's apprenticeship with Hackney, which started 200 days ago and runs for two years."""
    apprentice = make_apprentice("ada@example.org", name="Ada Apprentice")
    return make_apprenticeship(apprentice, standard_version=make_standard_version("ST0116"),
                               starts_on=clock.today() - timedelta(days=200))


@pytest.fixture
def coordinator(client):
    person = make_coordinator("cora@example.org", scope=(HACKNEY,))
    sign_in(client, person)
    return person


@pytest.fixture
def team():
    return make_team(HACKNEY, "Digital services")


@pytest.fixture
def supervisor():
    return make_supervisor("sam@example.org")


def new_path(apprenticeship) -> str:
    return f"/apprenticeships/{apprenticeship.id}/placements/new"


# Adding a placement -----------------------------------------------------------------------------------------


def test_a_coordinator_places_an_apprentice_with_a_team(client, coordinator, record, team, supervisor):
    make_team(TOWER_HAMLETS, "Data and insight")
    make_person("lee@example.org", name="Lee Learner")  # not a supervisor: not offered
    page = client.get(new_path(record))
    assert page.status_code == 200
    assert page_title(page) == "Add a placement – Ada Apprentice – Pathways"
    html = html_of(page)
    assert ">London Borough of Hackney – Digital services</option>" in html
    assert ">London Borough of Tower Hamlets – Data and insight</option>" in html
    assert ">Sam Supervisor – London Borough of Hackney</option>" in html
    assert "Lee Learner" not in html
    assert 'id="starts_on-day"' in html and 'id="ends_on-year"' in html
    assert 'type="checkbox"' in html and "K1: Knowledge 1 of ST0116" in html

    ksbs = record.standard_version.ksbs[:2]
    starts_on, ends_on = record.starts_on + timedelta(days=10), record.starts_on + timedelta(days=190)
    response = post_form(client, new_path(record), form_data(team, supervisor, starts_on, ends_on, ksbs=ksbs))

    assert response.status_code == 302
    assert response.headers["Location"] == f"/apprenticeships/{record.id}/placements"
    [placement] = db.session.scalars(select(Placement)).all()
    assert (placement.team_id, placement.host_organisation_id, placement.supervisor_id) == (
        team.id, organisation(HACKNEY).id, supervisor.id)
    assert (placement.starts_on, placement.ends_on) == (starts_on, ends_on)
    assert placement.objectives == "Build the housing repairs service."
    assert [k.code for k in placement.ksbs] == ["K1", "K2"]
    [audit] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "placement.added")).all()
    assert audit.actor_id == coordinator.id
    assert audit.details["ksbs"] == ["K1", "K2"]
    assert "Placed Ada Apprentice with Digital services at London Borough of Hackney" in audit.summary
    shown = client.get(response.headers["Location"])
    assert (f"Ada Apprentice has been placed with Digital services at London Borough of Hackney from "
            f"{day(starts_on)} to {day(ends_on)}.") in text_of(shown)


def refusals(record, team, supervisor):
    """(case, changes to a good form, field, message)."""
    start, end = record.starts_on, record.planned_end_on
    other_version = make_standard_version("ST0118", title="Data analyst")
    learner = make_person("lee@example.org", name="Lee Learner")
    gone = make_supervisor("gone@example.org")
    gone.name = "Gus Gone"
    accounts.deactivate_person(None, gone, "Left the council")
    existing = make_placement(record, team=make_team(ISLINGTON, "Children's services"), host_code=ISLINGTON,
                              supervisor=supervisor, starts_on=start + timedelta(days=300),
                              ends_on=start + timedelta(days=400))
    full = make_team(HACKNEY, "Revenues", capacity=1)
    make_placement(make_apprenticeship(starts_on=start), team=full, starts_on=start, ends_on=start + timedelta(days=60))
    db.session.commit()
    within = "A placement must fall within the apprenticeship, which starts on " \
             f"{day(start)} and is planned to end on {day(end)}"
    return [
        ("end before start", {"starts_on": dmy(start + timedelta(days=20)), "ends_on": dmy(start + timedelta(days=19))},
         "ends_on", "The end date must be the same as or after the start date"),
        ("before the apprenticeship", {"starts_on": dmy(start - timedelta(days=1))}, "starts_on", within),
        ("after the apprenticeship", {"ends_on": dmy(end + timedelta(days=1))}, "ends_on", within),
        ("overlapping", {"ends_on": dmy(start + timedelta(days=300))}, "starts_on",
         f"This overlaps the placement with Children's services at London Borough of Islington from "
         f"{day(existing.starts_on)} to {day(existing.ends_on)}. An apprentice has one placement at a time"),
        ("not a supervisor", {"supervisor": str(learner.id)}, "supervisor",
         "Lee Learner is not a supervisor. Choose someone with the supervisor role"),
        ("deactivated supervisor", {"supervisor": str(gone.id)}, "supervisor",
         "Gus Gone's account is deactivated. Choose an active supervisor"),
        ("capacity full", {"team": str(full.id)}, "team",
         f"Revenues at London Borough of Hackney can host 1 apprentice at a time and is full from "
         f"{day(start + timedelta(days=10))} to {day(start + timedelta(days=60))}. Choose other dates or another team"),
        ("KSB of another standard", {"ksb_ids": [str(record.standard_version.ksbs[0].id),
                                                 str(other_version.ksbs[3].id)]}, "ksb_ids",
         "S1 is not a KSB of this apprenticeship's standard (ST0116 version 1.1). Choose KSBs from the list"),
        ("no objectives", {"objectives": "  "}, "objectives", "Enter the placement's objectives"),
        ("no team", {"team": ""}, "team", "Select the host team"),
        ("unknown team", {"team": "999999"}, "team", "Select the host team"),
        ("no supervisor", {"supervisor": ""}, "supervisor", "Select the supervisor"),
        ("no start", {"starts_on": ["", "", ""]}, "starts_on", "Enter the date the placement starts"),
        ("half a date", {"ends_on": ["3", "", "2026"]}, "ends_on", "End date must include a month"),
        ("not a date", {"starts_on": ["31", "2", "2026"]}, "starts_on",
         "Start date must be a real date, like 27 3 2027"),
        ("a KSB that is not a number", {"ksb_ids": ["K1"]}, "ksb_ids", "Select KSBs from the list"),
    ]


def test_each_refusal_is_explained_beside_its_field_and_nothing_is_saved(client, coordinator, record, team,
                                                                         supervisor):
    cases = refusals(record, team, supervisor)
    placements_before = count(Placement)
    good = form_data(team, supervisor, record.starts_on + timedelta(days=10), record.starts_on + timedelta(days=100))
    for case, changes, field, message in cases:
        response = post_form(client, new_path(record), good | changes)
        assert response.status_code == 200, case
        assert page_title(response) == "Error: Add a placement – Ada Apprentice – Pathways", case
        assert field_error(response, field) == message, case
        assert message in error_summary(response), case
        assert count(Placement) == placements_before, case
    assert not db.session.scalars(select(AuditEvent).where(AuditEvent.action == "placement.added")).all()


def test_the_form_keeps_what_was_typed_after_a_refusal(client, coordinator, record, team, supervisor):
    ksb = record.standard_version.ksbs[1]
    data = form_data(team, supervisor, record.starts_on + timedelta(days=30), record.starts_on + timedelta(days=20),
                     objectives="Learn the repairs domain", ksbs=[ksb])
    html = html_of(post_form(client, new_path(record), data))
    assert re.search(rf'<option value="{team.id}" selected', html)
    assert re.search(rf'<option value="{supervisor.id}" selected', html)
    assert "Learn the repairs domain</textarea>" in html
    assert re.search(rf'value="{ksb.id}" checked', html)


def test_an_overlap_of_one_day_is_refused_and_the_next_day_is_allowed(record, team, supervisor):
    start = record.starts_on
    first = placements.add_placement(None, record, team=team, supervisor=supervisor, starts_on=start,
                                     ends_on=start + timedelta(days=99), objectives="First rotation")
    with pytest.raises(ServiceError) as refused:
        placements.add_placement(None, record, team=team, supervisor=supervisor, starts_on=first.ends_on,
                                 ends_on=first.ends_on + timedelta(days=100), objectives="Second rotation")
    assert refused.value.field == "starts_on"
    assert f"from {day(start)} to {day(first.ends_on)}" in refused.value.message

    second = placements.add_placement(None, record, team=team, supervisor=supervisor,
                                      starts_on=first.ends_on + timedelta(days=1),
                                      ends_on=first.ends_on + timedelta(days=100), objectives="Second rotation")
    assert [p.id for p in record.placements] == [first.id, second.id]
    # A placement inside another is an overlap too.
    with pytest.raises(ServiceError):
        placements.add_placement(None, record, team=team, supervisor=supervisor, starts_on=start + timedelta(days=5),
                                 ends_on=start + timedelta(days=6), objectives="Inside")


def test_an_ended_apprenticeship_takes_placements_only_up_to_its_actual_end(record, team, supervisor):
    record.actual_end_on = record.starts_on + timedelta(days=50)
    with pytest.raises(ServiceError) as refused:
        placements.add_placement(None, record, team=team, supervisor=supervisor, starts_on=record.starts_on,
                                 ends_on=record.starts_on + timedelta(days=51), objectives="Too long")
    assert refused.value.message == (
        f"A placement must fall within the apprenticeship, which starts on {day(record.starts_on)} and ends on "
        f"{day(record.actual_end_on)}")
    record.status = ApprenticeshipStatus.WITHDRAWN
    with pytest.raises(ServiceError, match="This apprenticeship is withdrawn; it cannot have new placements"):
        placements.add_placement(None, record, team=team, supervisor=supervisor, starts_on=record.starts_on,
                                 ends_on=record.starts_on + timedelta(days=10), objectives="Short")


# Team capacity ------------------------------------------------------------------------------------------------


def test_a_full_team_is_refused_and_a_team_with_room_is_allowed(record, supervisor):
    start = record.starts_on
    team = make_team(HACKNEY, "Revenues", capacity=2)
    others = [make_apprenticeship(starts_on=start) for _ in range(3)]
    make_placement(others[0], team=team, starts_on=start + timedelta(days=10), ends_on=start + timedelta(days=100))
    make_placement(others[1], team=team, starts_on=start + timedelta(days=50), ends_on=start + timedelta(days=150))

    # Two apprentices from day 50 to day 100: full then, with room before and after.
    with pytest.raises(ServiceError) as refused:
        placements.add_placement(None, record, team=team, supervisor=supervisor, starts_on=start,
                                 ends_on=start + timedelta(days=200), objectives="Rotation")
    assert refused.value.field == "team"
    assert refused.value.message == (
        f"Revenues at London Borough of Hackney can host 2 apprentices at a time and is full from "
        f"{day(start + timedelta(days=50))} to {day(start + timedelta(days=100))}. Choose other dates or another team")
    assert placements.team_occupancy(team, start, start + timedelta(days=200)) == [
        placements.OccupancyPeriod(start, start + timedelta(days=9), 0),
        placements.OccupancyPeriod(start + timedelta(days=10), start + timedelta(days=49), 1),
        placements.OccupancyPeriod(start + timedelta(days=50), start + timedelta(days=100), 2),
        placements.OccupancyPeriod(start + timedelta(days=101), start + timedelta(days=150), 1),
        placements.OccupancyPeriod(start + timedelta(days=151), start + timedelta(days=200), 0),
    ]

    # With room: the day after the full period.
    placed = placements.add_placement(None, record, team=team, supervisor=supervisor,
                                      starts_on=start + timedelta(days=101), ends_on=start + timedelta(days=200),
                                      objectives="Rotation")
    assert placed.team_id == team.id
    # Now full again from day 101 to 150, for a third apprentice.
    with pytest.raises(ServiceError, match="is full from"):
        placements.add_placement(None, others[2], team=team, supervisor=supervisor,
                                 starts_on=start + timedelta(days=140), ends_on=start + timedelta(days=160),
                                 objectives="Rotation")
    # No limit, no refusal; and a placement stops counting once its apprenticeship has actually ended.
    others[1].actual_end_on = start + timedelta(days=120)
    assert placements.add_placement(None, others[2], team=team, supervisor=supervisor,
                                    starts_on=start + timedelta(days=121), ends_on=start + timedelta(days=160),
                                    objectives="Rotation")
    unlimited = make_team(HACKNEY, "Housing")
    for other in others:
        make_placement(other, team=unlimited, starts_on=start + timedelta(days=300),
                       ends_on=start + timedelta(days=310))
    assert placements.add_placement(None, record, team=unlimited, supervisor=supervisor,
                                    starts_on=start + timedelta(days=300), ends_on=start + timedelta(days=310),
                                    objectives="Rotation")


def test_a_team_with_no_places_takes_nobody(record, supervisor):
    team = make_team(HACKNEY, "Legal", capacity=0)
    with pytest.raises(ServiceError, match=r"Legal at London Borough of Hackney is not taking apprentices \(its "
                                           r"capacity is 0\)"):
        placements.add_placement(None, record, team=team, supervisor=supervisor, starts_on=record.starts_on,
                                 ends_on=record.starts_on + timedelta(days=10), objectives="Rotation")


# Across boroughs ----------------------------------------------------------------------------------------------


def test_a_hackney_coordinator_places_into_tower_hamlets_and_tower_hamlets_then_sees_the_record(
        client, new_client, coordinator, record, supervisor):
    tower_hamlets_team = make_team(TOWER_HAMLETS, "Data and insight")
    tower_hamlets_supervisor = make_supervisor("tia@example.org", organisation_code=TOWER_HAMLETS)
    tower_hamlets = new_client()
    sign_in(tower_hamlets, make_coordinator("theo@example.org", scope=(TOWER_HAMLETS,),
                                            organisation_code=TOWER_HAMLETS))
    path = f"/apprenticeships/{record.id}/placements"
    assert tower_hamlets.get(path).status_code == 404

    response = post_form(client, new_path(record), form_data(
        tower_hamlets_team, tower_hamlets_supervisor, record.starts_on, record.starts_on + timedelta(days=300)))

    assert response.status_code == 302
    [placement] = db.session.scalars(select(Placement)).all()
    assert placement.host_organisation_id == organisation(TOWER_HAMLETS).id
    page = tower_hamlets.get(path)
    assert page.status_code == 200
    assert "London Borough of Tower Hamlets" in text_of(page)
    # Islington, with no part in the record, still cannot see it.
    islington = new_client()
    sign_in(islington, make_coordinator("ivy@example.org", scope=(ISLINGTON,), organisation_code=ISLINGTON))
    assert islington.get(path).status_code == 404


# Changing a placement -----------------------------------------------------------------------------------------


def test_a_coordinator_changes_a_placement_which_does_not_clash_with_itself(client, coordinator, record, team,
                                                                            supervisor):
    start = record.starts_on
    placement = make_placement(record, team=team, supervisor=supervisor, starts_on=start,
                               ends_on=start + timedelta(days=100), ksbs=record.standard_version.ksbs[:1])
    later = make_placement(record, team=team, supervisor=supervisor, starts_on=start + timedelta(days=200),
                           ends_on=start + timedelta(days=300))
    path = f"/apprenticeships/{record.id}/placements/{placement.id}/edit"
    page = client.get(path)
    assert page.status_code == 200
    assert page_title(page) == "Change a placement – Ada Apprentice – Pathways"
    assert re.search(rf'<option value="{team.id}" selected', html_of(page))
    assert re.search(rf'id="starts_on-year" name="starts_on" type="text" value="{start.year}"', html_of(page))
    assert re.search(rf'id="ends_on-day" name="ends_on" type="text" value="{placement.ends_on:%d}"', html_of(page))
    assert re.search(rf'value="{record.standard_version.ksbs[0].id}" checked', html_of(page))
    assert "Save changes" in text_of(page)

    response = post_form(client, path, form_data(team, supervisor, start + timedelta(days=5),
                                                 start + timedelta(days=150), objectives="Changed objectives",
                                                 ksbs=record.standard_version.ksbs[2:4]))

    assert response.status_code == 302
    db.session.refresh(placement)
    assert (placement.starts_on, placement.ends_on, placement.objectives) == (
        start + timedelta(days=5), start + timedelta(days=150), "Changed objectives")
    assert [k.code for k in placement.ksbs] == ["K3", "S1"]
    [audit] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "placement.changed")).all()
    assert set(audit.details["changed"]) == {"starts_on", "ends_on", "objectives", "ksbs"}

    clash = post_form(client, path, form_data(team, supervisor, start, start + timedelta(days=200)))
    assert clash.status_code == 200
    assert field_error(clash, "starts_on").startswith(
        f"This overlaps the placement with Digital services at London Borough of Hackney from "
        f"{day(later.starts_on)} to {day(later.ends_on)}")


def test_a_placement_of_another_apprenticeship_is_not_found(client, coordinator, record, team, supervisor):
    other = make_apprenticeship(starts_on=record.starts_on)
    theirs = make_placement(other, team=team, supervisor=supervisor)
    for path in (f"/apprenticeships/{record.id}/placements/{theirs.id}/edit",
                 f"/apprenticeships/{record.id}/placements/{theirs.id}/feedback",
                 f"/apprenticeships/{record.id}/placements/999999/edit"):
        assert client.get(path).status_code == 404, path
    assert client.get("/apprenticeships/999999/placements").status_code == 404


# The timeline ----------------------------------------------------------------------------------------------


def test_the_timeline_shows_the_gaps_at_the_start_between_and_at_the_end(record, team, supervisor):
    start, end = record.starts_on, record.planned_end_on
    first = make_placement(record, team=team, supervisor=supervisor, starts_on=start + timedelta(days=10),
                           ends_on=start + timedelta(days=99))
    second = make_placement(record, team=team, supervisor=supervisor, starts_on=start + timedelta(days=130),
                            ends_on=end - timedelta(days=30))

    segments = placements.timeline(record, as_of=start + timedelta(days=115))

    assert [(s.gap, s.placement, s.starts_on, s.ends_on, s.days, s.state) for s in segments] == [
        ("start", None, start, start + timedelta(days=9), 10, "past"),
        (None, first, start + timedelta(days=10), start + timedelta(days=99), 90, "past"),
        ("between", None, start + timedelta(days=100), start + timedelta(days=129), 30, "current"),
        (None, second, start + timedelta(days=130), end - timedelta(days=30), (end - start).days - 159, "future"),
        ("end", None, end - timedelta(days=29), end, 30, "future"),
    ]
    assert [s.gap for s in placements.gaps(segments)] == ["start", "between", "end"]


def test_the_timeline_without_gaps_and_without_placements(record, team, supervisor):
    start, end = record.starts_on, record.planned_end_on
    assert [(s.gap, s.starts_on, s.ends_on) for s in placements.timeline(record)] == [("whole", start, end)]
    make_placement(record, team=team, supervisor=supervisor, starts_on=start, ends_on=start + timedelta(days=99))
    make_placement(record, team=team, supervisor=supervisor, starts_on=start + timedelta(days=100), ends_on=end)
    segments = placements.timeline(record)
    assert not placements.gaps(segments)
    assert [s.state for s in segments] == ["past", "current"]
    # After a withdrawal the timeline stops at the actual end, and the placement is cut there.
    record.actual_end_on = start + timedelta(days=150)
    assert segments != placements.timeline(record)
    assert placements.timeline(record)[-1].ends_on == start + timedelta(days=150)


def test_placement_in_force_on_a_day(record, team, supervisor):
    today = clock.today()
    past = make_placement(record, team=team, supervisor=supervisor, starts_on=record.starts_on,
                          ends_on=today - timedelta(days=1))
    assert placements.current_placement(record) is None
    current = make_placement(record, team=team, supervisor=supervisor, starts_on=today,
                             ends_on=today + timedelta(days=30))
    assert placements.current_placement(record) == current
    assert placements.placement_on(record, record.starts_on) == past
    assert placements.placement_on(record, today + timedelta(days=31)) is None


def test_the_placements_page_draws_an_accessible_timeline_with_a_table_and_the_gaps(client, coordinator, record,
                                                                                   supervisor):
    start, today = record.starts_on, clock.today()
    tower_hamlets = make_team(TOWER_HAMLETS, "Data and insight")
    make_placement(record, team=make_team(HACKNEY, "Digital services"), supervisor=supervisor,
                   starts_on=start + timedelta(days=14), ends_on=start + timedelta(days=99),
                   ksbs=record.standard_version.ksbs[:2])
    make_placement(record, team=tower_hamlets, host_code=TOWER_HAMLETS, supervisor=supervisor,
                   starts_on=start + timedelta(days=120), ends_on=today + timedelta(days=100))

    response = client.get(f"/apprenticeships/{record.id}/placements")

    assert response.status_code == 200
    assert page_title(response) == "Placements – Ada Apprentice – Pathways"
    html, text = html_of(response), text_of(response)
    assert '<h1 class="govuk-heading-l">Placements</h1>' in html
    assert 'aria-current="page">Placements</a>' in html
    svg = re.search(r"<svg\b.*?</svg>", html, re.S).group(0)
    assert 'role="img"' in svg
    assert 'aria-labelledby="placement-timeline-title placement-timeline-desc"' in svg
    assert re.search(r'<title id="placement-timeline-title">Timeline of placements', svg)
    desc = unescape(re.search(r'<desc id="placement-timeline-desc">(.*?)</desc>', svg, re.S).group(0))
    assert f"No placement from {day(start)} to {day(start + timedelta(days=13))} (14 days)." in desc
    assert "Placement 2: Data and insight at London Borough of Tower Hamlets" in desc
    assert "style=" not in svg and "<style" not in svg
    assert svg.count('fill="url(#placement-timeline-hatch)"') == 3  # start, between and end gaps are hatched
    assert ">1. Hackney</text>" in svg and ">Today</text>" in svg
    # The gaps in words.
    gaps = re.search(r'<div class="govuk-inset-text" id="placement-gaps">.*?</div>', html, re.S).group(0)
    gap_text = " ".join(unescape(re.sub(r"<[^>]+>", " ", gaps)).split())
    assert (f"No placement from {day(start)} to {day(start + timedelta(days=13))} (14 days), in the past"
            in gap_text)
    assert (f"No placement from {day(start + timedelta(days=100))} to {day(start + timedelta(days=119))} (20 days)"
            in gap_text)
    assert f"No placement from {day(today + timedelta(days=101))} to {day(record.planned_end_on)}" in gap_text
    # The table alternative.
    table = re.search(r'<table class="govuk-table" id="placements">.*?</table>', html, re.S).group(0)
    assert '<caption class="govuk-table__caption govuk-table__caption--m">2 placements</caption>' in table
    headers = re.findall(r'<th scope="col" class="govuk-table__header">(.*?)</th>', table)
    assert headers == ["Host", "Team", "Supervisor", "Dates", "Objectives and KSBs targeted", "Feedback"]
    assert "Add a placement" in text
    assert text.count("Change placement") == 2
    assert "KSBs: K1 , K2" in text
    assert "Past" in text and "Current" in text


def test_a_record_with_no_placements_says_so_and_an_ended_one_takes_no_more(client, coordinator, record):
    path = f"/apprenticeships/{record.id}/placements"
    text = text_of(client.get(path))
    assert "Ada Apprentice has no placements yet." in text
    assert (f"Time without a placement No placement from {day(record.starts_on)} to {day(record.planned_end_on)}"
            in text)
    assert "Add a placement" in text
    record.status, record.actual_end_on = ApprenticeshipStatus.WITHDRAWN, clock.today()
    db.session.commit()
    text = text_of(client.get(path))
    assert "Add a placement" not in text
    assert "This apprenticeship is withdrawn, so it cannot have new placements." in text


def test_the_placements_page_takes_the_same_number_of_queries_however_many_placements(client, coordinator, record,
                                                                                     supervisor):
    teams = [make_team(code, f"Team {n}") for n, code in enumerate((HACKNEY, TOWER_HAMLETS, ISLINGTON) * 2)]
    start = record.starts_on
    make_placement(record, team=teams[0], supervisor=supervisor, starts_on=start, ends_on=start + timedelta(days=20),
                   ksbs=record.standard_version.ksbs[:1])
    path = f"/apprenticeships/{record.id}/placements"
    client.get(path)
    with counting_queries() as few:
        assert client.get(path).status_code == 200
    for n, team in enumerate(teams[1:], start=1):
        make_placement(record, team=team, host_code=team.organisation.code,
                       supervisor=make_supervisor(f"s{n}@example.org"), starts_on=start + timedelta(days=30 * n),
                       ends_on=start + timedelta(days=30 * n + 20), ksbs=record.standard_version.ksbs[n:n + 2])
    with counting_queries() as many:
        assert client.get(path).status_code == 200
    assert len(many) == len(few)


# The supervisor's feedback ------------------------------------------------------------------------------------


def test_the_supervisor_gives_feedback_near_the_end_but_not_early(client, record, team, supervisor):
    today = clock.today()
    ending = make_placement(record, team=team, supervisor=supervisor, starts_on=record.starts_on,
                            ends_on=today + timedelta(days=10))
    sign_in(client, supervisor)
    path = f"/apprenticeships/{record.id}/placements/{ending.id}/feedback"
    page = client.get(path)
    assert page.status_code == 200
    assert page_title(page) == "Feedback on a placement – Ada Apprentice – Pathways"
    assert "Give feedback" in text_of(client.get(f"/apprenticeships/{record.id}/placements"))

    response = post_form(client, path, {"feedback": "  Ada rebuilt the repairs booking form and led the demo.  "})

    assert response.status_code == 302
    db.session.refresh(ending)
    assert ending.supervisor_feedback == "Ada rebuilt the repairs booking form and led the demo."
    assert ending.feedback_at is not None
    [audit] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "placement.feedback_recorded")).all()
    assert audit.actor_id == supervisor.id
    assert "Ada rebuilt the repairs booking form" in text_of(client.get(f"/apprenticeships/{record.id}/placements"))

    # The next placement ends in 100 days: too early.
    early = make_placement(record, team=team, supervisor=supervisor, starts_on=today + timedelta(days=11),
                           ends_on=today + timedelta(days=100))
    path = f"/apprenticeships/{record.id}/placements/{early.id}/feedback"
    opens = day(today + timedelta(days=86))
    assert f"Feedback can be given from {opens}" in text_of(client.get(path))
    refused = post_form(client, path, {"feedback": "Going well so far."})
    assert refused.status_code == 200
    assert field_error(refused, "feedback") == (
        f"Feedback can be given from 14 days before the placement ends, so from {opens}")
    db.session.refresh(early)
    assert early.supervisor_feedback is None
    empty = post_form(client, path, {"feedback": "   "})
    assert field_error(empty, "feedback") == "Enter your feedback on the placement"


def test_feedback_by_an_unrelated_supervisor_is_not_found(client, record, team, supervisor):
    placement = make_placement(record, team=team, supervisor=supervisor, starts_on=record.starts_on,
                               ends_on=clock.today() + timedelta(days=5))
    stranger = make_supervisor("stan@example.org")
    make_placement(make_apprenticeship(starts_on=record.starts_on), team=team, supervisor=stranger)
    sign_in(client, stranger)
    path = f"/apprenticeships/{record.id}/placements/{placement.id}/feedback"
    assert client.get(path).status_code == 404
    assert post_form(client, path, {"feedback": "Not mine to give"}, token_from="/").status_code == 404
    assert client.get(f"/apprenticeships/{record.id}/placements").status_code == 404
    db.session.refresh(placement)
    assert placement.supervisor_feedback is None


def test_a_supervisor_of_one_placement_cannot_give_feedback_on_another(client, record, team, supervisor):
    start = record.starts_on
    make_placement(record, team=team, supervisor=supervisor, starts_on=start, ends_on=start + timedelta(days=10))
    other = make_placement(record, team=team, supervisor=make_supervisor("otto@example.org"),
                           starts_on=start + timedelta(days=11), ends_on=clock.today() + timedelta(days=3))
    sign_in(client, supervisor)
    path = f"/apprenticeships/{record.id}/placements/{other.id}/feedback"
    assert client.get(path).status_code == 403
    assert post_form(client, path, {"feedback": "Not mine"}, token_from="/").status_code == 403


# Who sees what ----------------------------------------------------------------------------------------------


def test_a_past_supervisor_sees_the_placements_read_only(client, record, team, supervisor):
    start = record.starts_on
    past = make_placement(record, team=team, supervisor=supervisor, starts_on=start, ends_on=start + timedelta(days=60))
    make_placement(record, team=team, starts_on=start + timedelta(days=61), ends_on=clock.today() + timedelta(days=60))
    sign_in(client, supervisor)

    page = client.get(f"/apprenticeships/{record.id}/placements")

    assert page.status_code == 200
    text = text_of(page)
    assert "Add a placement" not in text
    assert "Change placement" not in text
    assert "/edit" not in html_of(page)
    edit = f"/apprenticeships/{record.id}/placements/{past.id}/edit"
    assert client.get(edit).status_code == 403
    data = form_data(team, supervisor, start, start + timedelta(days=90))
    assert post_form(client, edit, data, token_from=f"/apprenticeships/{record.id}/placements").status_code == 403
    assert client.get(new_path(record)).status_code == 403
    assert post_form(client, new_path(record), data, token_from="/").status_code == 403
    db.session.refresh(past)
    assert past.ends_on == start + timedelta(days=60)
    assert count(Placement) == 2


def test_the_apprentice_sees_their_own_placements_but_not_anothers(client, record, team, supervisor):
    mine = make_placement(record, team=team, supervisor=supervisor)
    other = make_apprenticeship(starts_on=record.starts_on)
    theirs = make_placement(other, team=team, supervisor=supervisor)
    sign_in(client, record.apprentice)

    page = client.get(f"/apprenticeships/{record.id}/placements")
    assert page.status_code == 200
    assert "Add a placement" not in text_of(page) and "Give feedback" not in text_of(page)
    assert client.get(new_path(record)).status_code == 403
    assert client.get(f"/apprenticeships/{record.id}/placements/{mine.id}/feedback").status_code == 403
    for path in (f"/apprenticeships/{other.id}/placements", new_path(other),
                 f"/apprenticeships/{other.id}/placements/{theirs.id}/edit",
                 f"/apprenticeships/{other.id}/placements/{theirs.id}/feedback"):
        assert client.get(path).status_code == 404, path
    assert post_form(client, new_path(other), form_data(team, supervisor, other.starts_on, other.starts_on),
                     token_from="/").status_code == 404


def test_a_coordinator_of_another_borough_cannot_see_or_place(client, record, team, supervisor):
    placement = make_placement(record, team=team, supervisor=supervisor)
    lambeth = make_coordinator("lou@example.org", scope=("E09000022",), organisation_code="E09000022")
    sign_in(client, lambeth)
    for path in (f"/apprenticeships/{record.id}/placements", new_path(record),
                 f"/apprenticeships/{record.id}/placements/{placement.id}/edit",
                 f"/apprenticeships/{record.id}/placements/{placement.id}/feedback"):
        assert client.get(path).status_code == 404, path
    data = form_data(team, supervisor, record.starts_on, record.starts_on)
    assert post_form(client, new_path(record), data, token_from="/").status_code == 404
    with pytest.raises(ServiceError, match="You cannot change the placements of this apprenticeship"):
        placements.add_placement(lambeth, record, team=team,
                                 supervisor=supervisor, starts_on=record.starts_on, ends_on=record.starts_on,
                                 objectives="Sneaky")


def test_a_programme_wide_coordinator_and_an_admin_may_place_anyone(record, team, supervisor, admin):
    everywhere = make_coordinator("pat@example.org", scope=())
    first = placements.add_placement(everywhere, record, team=team, supervisor=supervisor, starts_on=record.starts_on,
                                     ends_on=record.starts_on + timedelta(days=9), objectives="One")
    placements.add_placement(admin, record, team=team, supervisor=supervisor,
                             starts_on=first.ends_on + timedelta(days=1), ends_on=first.ends_on + timedelta(days=9),
                             objectives="Two")
    assert len(record.placements) == 2


# A supervisor's apprentices -----------------------------------------------------------------------------------


def test_a_supervisor_s_current_and_past_apprentices(supervisor, team):
    today = clock.today()
    now = make_apprenticeship(make_apprentice("cai@example.org", name="Cai Current"), starts_on=today - timedelta(200))
    before = make_apprenticeship(make_apprentice("pia@example.org", name="Pia Past"), starts_on=today - timedelta(200))
    soon = make_apprenticeship(make_apprentice("fay@example.org", name="Fay Future"), starts_on=today - timedelta(200))
    both = make_apprenticeship(make_apprentice("bo@example.org", name="Bo Both"), starts_on=today - timedelta(200))
    make_placement(now, team=team, supervisor=supervisor, starts_on=today - timedelta(10), ends_on=today)
    make_placement(before, team=team, supervisor=supervisor, starts_on=today - timedelta(100),
                   ends_on=today - timedelta(1))
    make_placement(soon, team=team, supervisor=supervisor, starts_on=today + timedelta(1), ends_on=today + timedelta(9))
    make_placement(both, team=team, supervisor=supervisor, starts_on=today - timedelta(100),
                   ends_on=today - timedelta(50))
    latest = make_placement(both, team=team, supervisor=supervisor, starts_on=today - timedelta(5),
                            ends_on=today + timedelta(50))
    make_placement(make_apprenticeship(starts_on=today - timedelta(200)), team=team)  # someone else's

    with counting_queries() as queries:
        mine = placements.supervised_apprenticeships(supervisor)
        names = [(e.apprenticeship.apprentice.name, e.state, e.placement.team.name,
                  e.apprenticeship.standard_version.standard.reference) for e in mine.current + mine.past]
    assert len(queries) <= 2
    assert [e.apprenticeship.apprentice.name for e in mine.current] == ["Bo Both", "Cai Current", "Fay Future"]
    assert [e.state for e in mine.current] == ["current", "current", "future"]
    assert [e.apprenticeship.apprentice.name for e in mine.past] == ["Pia Past"]
    assert mine.current[0].placement == latest and len(mine.current[0].placements) == 2
    assert len(names) == 4
    assert placements.supervised_apprenticeships(supervisor, as_of=today + timedelta(days=60)).current == []


# Team capacity, set by admins -----------------------------------------------------------------------------


def test_an_admin_sets_a_team_s_capacity_when_adding_it_and_changes_it_later(client, signed_in_admin):
    hackney = organisation(HACKNEY)
    path = f"/admin/organisations/{hackney.id}"
    page = client.get(path)
    assert 'id="apprentice_capacity"' in html_of(page)

    assert post_form(client, path, {"name": "Digital services", "apprentice_capacity": "3"}).status_code == 302
    assert post_form(client, path, {"name": "Housing", "apprentice_capacity": ""}).status_code == 302
    digital, housing = db.session.scalars(select(Team).order_by(Team.name)).all()
    assert (digital.apprentice_capacity, housing.apprentice_capacity) == (3, None)
    page = client.get(path)
    assert "Apprentice capacity" in text_of(page)
    assert f'id="team-{digital.id}-capacity"' in html_of(page)
    assert re.search(rf'<tr class="govuk-table__row" id="team-{digital.id}">.*?3 apprentices', html_of(page), re.S)

    capacity = f"/admin/organisations/{hackney.id}/teams/{digital.id}/capacity"
    response = post_form(client, capacity, {"apprentice_capacity": " 1 "}, token_from=path)
    assert response.status_code == 302
    assert response.headers["Location"] == f"{path}#apprentice-capacity"
    db.session.refresh(digital)
    assert digital.apprentice_capacity == 1
    assert "Digital services can now host 1 apprentice at a time." in text_of(client.get(path))
    assert post_form(client, capacity, {"apprentice_capacity": ""}, token_from=path).status_code == 302
    db.session.refresh(digital)
    assert digital.apprentice_capacity is None
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "team.capacity_changed")
                                .order_by(AuditEvent.id)).all()
    assert [(e.details["before"], e.details["after"]) for e in events] == [(None, 3), (3, 1), (1, None)]


@pytest.mark.parametrize("typed", ["-1", "two", "1.5", "²", "99999"])
def test_a_bad_capacity_is_refused_beside_the_field(client, signed_in_admin, typed):
    hackney = organisation(HACKNEY)
    team = make_team(HACKNEY, "Digital services", capacity=2)
    path = f"/admin/organisations/{hackney.id}"
    message = "Apprentice capacity must be a whole number, 0 or more, like 2, or empty for no limit"

    response = post_form(client, f"{path}/teams/{team.id}/capacity", {"apprentice_capacity": typed}, token_from=path)

    assert response.status_code == 200
    assert page_title(response) == "Error: London Borough of Hackney – Pathways"
    assert field_error(response, f"team-{team.id}-capacity") == message
    assert message in error_summary(response)
    assert f'href="#team-{team.id}-capacity"' in html_of(response)
    db.session.refresh(team)
    assert team.apprentice_capacity == 2

    adding = post_form(client, path, {"name": "Housing", "apprentice_capacity": typed})
    assert field_error(adding, "apprentice_capacity") == message
    assert db.session.scalar(select(func.count(Team.id))) == 1


def test_only_admins_set_capacity_and_only_for_that_organisation_s_teams(client, new_client, admin):
    team = make_team(HACKNEY, "Digital services")
    hackney, camden = organisation(HACKNEY), organisation("E09000007")
    coordinator = make_person("cora@example.org", roles=(Role.COORDINATOR,), scope=(HACKNEY,))
    sign_in(client, coordinator)
    response = post_form(client, f"/admin/organisations/{hackney.id}/teams/{team.id}/capacity",
                         {"apprentice_capacity": "5"}, token_from="/")
    assert response.status_code == 403
    with pytest.raises(ServiceError, match="Only admins"):
        placements.set_team_capacity(coordinator, team, 5)
    browser = new_client()
    sign_in(browser, admin)
    assert post_form(browser, f"/admin/organisations/{camden.id}/teams/{team.id}/capacity",
                     {"apprentice_capacity": "5"}, token_from="/").status_code == 404
    db.session.refresh(team)
    assert team.apprentice_capacity is None
