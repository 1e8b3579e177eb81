"""The apprenticeship record: adding one (and every input refused, with its message beside the field),
correcting it, the coordinators' list, the overview, and who may see and change what."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import (
    Apprenticeship,
    ApprenticeshipStatus,
    AuditEvent,
    EnglishMaths,
    OtjStatus,
    ProgressReview,
    Role,
    StatusChange,
)
from app.services import ServiceError, apprenticeship_rules, apprenticeships, clock
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_intake,
    make_otj,
    make_placement,
    make_standard_version,
    make_supervisor,
)
from tests.conftest import make_person, organisation, post_form, sign_in
from tests.pages import field_error, html_of, page_title, text_of

HACKNEY, TOWER_HAMLETS, ISLINGTON, LAMBETH = "E09000012", "E09000030", "E09000019", "E09000022"


def parts(day: date) -> list[str]:
    return [str(day.day), str(day.month), str(day.year)]


@pytest.fixture
def coordinator(client):
    person = make_coordinator("cora@example.org", scope=(HACKNEY,))
    sign_in(client, person)
    return person


@pytest.fixture
def version():
    return make_standard_version("ST0116", otj_minimum_hours=400)


@pytest.fixture
def apprentice():
    return make_apprentice("ada@example.org", name="Ada Lovelace")


def record_form(person, version, **overrides) -> dict:
    start = clock.today() - timedelta(days=30)
    data = {
        "apprentice": str(person.id), "standard_version": str(version.id),
        "employer": str(organisation(HACKNEY).id), "intake": "", "training_provider": "Digital Skills Training Ltd",
        "starts_on": parts(start), "planned_end_on": parts(apprenticeship_rules.add_months(start, 18)),
        "weekly_hours": "37", "prior_learning_hours": "", "english_maths": "achieved", "english_maths_note": "",
        "otj_override_hours": "", "otj_override_reason": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def only(model):
    rows = db.session.scalars(select(model)).all()
    assert len(rows) == 1, rows
    return rows[0]


# Adding an apprenticeship ------------------------------------------------------------------------


def test_a_coordinator_adds_an_apprenticeship_and_pathways_applies_the_rules(client, coordinator, version,
                                                                             apprentice):
    intake = make_intake("September 2026")
    page = client.get("/apprenticeships/new")
    assert page.status_code == 200
    assert page_title(page) == "Add an apprenticeship – Pathways"
    assert "Ada Lovelace (ada@example.org)" in text_of(page)
    assert version.label in text_of(page)
    assert 'id="starts_on-day"' in html_of(page)

    response = post_form(client, "/apprenticeships/new", record_form(apprentice, version, intake=str(intake.id)))

    a = only(Apprenticeship)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/apprenticeships/{a.id}"
    start = clock.today() - timedelta(days=30)
    assert (a.apprentice_id, a.starts_on, a.planned_end_on, a.weekly_hours, a.intake_id) == (
        apprentice.id, start, apprenticeship_rules.add_months(start, 18), Decimal("37.0"), intake.id)
    # Started from 1 August 2025: the standard's published minimum.
    assert (a.rule_set, a.planned_otj_hours_by_rule, a.planned_otj_hours, a.otj_override_reason) == (
        "2025-08", 400, 400, None)
    assert a.status is ApprenticeshipStatus.ACTIVE
    change = only(StatusChange)
    assert (change.from_status, change.to_status, change.effective_on, change.reason, change.changed_by_id) == (
        None, ApprenticeshipStatus.ACTIVE, start, "Apprenticeship started", coordinator.id)
    dues = apprenticeship_rules.review_due_dates(apprenticeship_rules.RULE_SETS_BY_KEY["2025-08"], start,
                                                 a.planned_end_on)
    assert [r.due_on for r in db.session.scalars(select(ProgressReview).order_by(ProgressReview.sequence))] == dues
    assert len(dues) == 6
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "apprenticeship.created"))
    assert event.actor_id == coordinator.id and event.details["planned_otj_hours"] == 400

    shown = client.get(f"/apprenticeships/{a.id}")
    assert "Ada Lovelace's apprenticeship has been added, with 400 planned off-the-job hours and 6 progress reviews" \
        in text_of(shown)
    assert "Starts from 1 August 2025: reviews every 3 calendar months" in text_of(shown)
    assert "Planned off-the-job hours 400 hours" in text_of(shown)


def test_a_start_before_august_2025_is_planned_by_twenty_percent_of_capped_hours(client, coordinator, version,
                                                                                 apprentice):
    form = record_form(apprentice, version, starts_on=parts(date(2024, 9, 2)), planned_end_on=parts(date(2026, 9, 2)))
    assert post_form(client, "/apprenticeships/new", form).status_code == 302
    a = only(Apprenticeship)
    # 730 days less 5.6 weeks of leave a year: 93.09 weeks × 6 hours (37 capped at 30, × 20%) = 558.5.
    assert (a.rule_set, a.planned_otj_hours_by_rule, a.planned_otj_hours) == ("2022-08", 559, 559)
    assert [r.due_on for r in a.reviews][:2] == [date(2024, 11, 25), date(2025, 2, 17)]  # every 12 weeks


def test_prior_learning_and_an_override_with_a_reason(client, coordinator, version, apprentice):
    form = record_form(apprentice, version, prior_learning_hours="100", otj_override_hours="320",
                       otj_override_reason="Prior learning of 20 more hours, evidenced after the initial assessment")
    assert post_form(client, "/apprenticeships/new", form).status_code == 302
    a = only(Apprenticeship)
    assert (a.planned_otj_hours_by_rule, a.planned_otj_hours) == (300, 320)
    page = text_of(client.get(f"/apprenticeships/{a.id}"))
    assert "320 hours The rules give 300 hours. Reason for the difference: Prior learning of 20 more hours" in page


NOT_PUBLISHED = "This standard version has no published minimum off-the-job hours"


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"apprentice": ""}, "apprentice", "Select the apprentice"),
    ({"standard_version": ""}, "standard_version", "Select the standard"),
    ({"employer": ""}, "employer", "Select the employer"),
    ({"training_provider": " "}, "training_provider", "Enter the name of the training provider"),
    ({"starts_on": ["", "", ""]}, "starts_on", "Enter the start date"),
    ({"starts_on": ["31", "2", "2026"]}, "starts_on", "Start date must be a real date, like 27 3 2027"),
    ({"planned_end_on": ["", "", ""]}, "planned_end_on", "Enter the planned end date"),
    ({"weekly_hours": ""}, "weekly_hours", "Enter the contracted weekly hours, like 37.5"),
    ({"weekly_hours": "0"}, "weekly_hours", "Contracted weekly hours must be between 1 and 48"),
    ({"weekly_hours": "48.5"}, "weekly_hours", "Contracted weekly hours must be between 1 and 48"),
    ({"weekly_hours": "lots"}, "weekly_hours", "Enter the contracted weekly hours as a number, like 37.5"),
    ({"weekly_hours": "37.25"}, "weekly_hours", "Enter weekly hours to one decimal place at most, like 37.5"),
    ({"english_maths": ""}, "english_maths", "Select the English and maths decision"),
    ({"english_maths": "not_required"}, "english_maths_note", "Enter why English and maths are not required"),
    ({"otj_override_hours": "350"}, "otj_override_reason", "Enter the reason for planning 350 hours instead of the "
                                                           "400 the rules give"),
    ({"otj_override_hours": "150", "otj_override_reason": "Wrong"}, "otj_override_hours",
     "Planned off-the-job hours cannot be below 187 for starts from 1 August 2025"),
    ({"prior_learning_hours": "ten"}, "prior_learning_hours", "must be a whole number"),
])
def test_each_bad_input_is_refused_beside_its_field(client, coordinator, version, apprentice, overrides, field,
                                                    message):
    response = post_form(client, "/apprenticeships/new", record_form(apprentice, version, **overrides))
    assert response.status_code == 200
    assert message in (field_error(response, field) or ""), text_of(response)[:3000]
    assert page_title(response) == "Error: Add an apprenticeship – Pathways"
    assert 'class="govuk-error-summary' in html_of(response)
    assert db.session.scalar(select(func.count()).select_from(Apprenticeship)) == 0


def test_the_planned_end_must_allow_the_minimum_practical_period(client, coordinator, version, apprentice):
    start = clock.today() - timedelta(days=30)
    early = apprenticeship_rules.add_months(start, 8) - timedelta(days=1)
    response = post_form(client, "/apprenticeships/new", record_form(apprentice, version, planned_end_on=parts(early)))
    earliest = apprenticeship_rules.add_months(start, 8)
    assert field_error(response, "planned_end_on") == (
        f"The planned end date must be on or after {earliest:%-d %B %Y}: the minimum practical period for starts "
        "from 1 August 2025 is 8 months")

    # Before August 2025, part time extends it pro rata: 12 × 30 / 20 = 18 months.
    form = record_form(apprentice, version, starts_on=parts(date(2024, 9, 2)), planned_end_on=parts(date(2026, 3, 1)),
                       weekly_hours="20")
    assert field_error(post_form(client, "/apprenticeships/new", form), "planned_end_on") == (
        "The planned end date must be on or after 2 March 2026: the minimum practical period for starts from "
        "1 August 2022 to 31 July 2025 is 18 months at 20 hours a week")
    form["planned_end_on"] = parts(date(2026, 3, 2))
    assert post_form(client, "/apprenticeships/new", form).status_code == 302


def test_a_standard_without_a_published_minimum_cannot_start_from_august_2025(client, coordinator, apprentice):
    version = make_standard_version("ST0128", title="Software development technician", otj_minimum_hours=None)
    response = post_form(client, "/apprenticeships/new", record_form(apprentice, version))
    assert NOT_PUBLISHED in field_error(response, "standard_version")


def test_only_employers_the_coordinator_coordinates_are_offered_or_accepted(client, coordinator, version,
                                                                            apprentice):
    page = text_of(client.get("/apprenticeships/new"))
    assert "Hackney" in page and "Islington" not in page
    response = post_form(client, "/apprenticeships/new",
                         record_form(apprentice, version, employer=str(organisation(ISLINGTON).id)))
    assert field_error(response, "employer") == "Select the employer"

    with pytest.raises(ServiceError, match="You do not coordinate London Borough of Islington") as refused:
        apprenticeships.create_apprenticeship(
            coordinator, apprentice=apprentice, standard_version=version, employer=organisation(ISLINGTON),
            training_provider="Provider", starts_on=date(2026, 9, 1), planned_end_on=date(2028, 3, 1),
            weekly_hours=Decimal(37), english_maths=EnglishMaths.ACHIEVED)
    assert refused.value.field == "employer"


def _create(actor, person, version, **overrides):
    values = {"apprentice": person, "standard_version": version, "employer": organisation(HACKNEY),
              "training_provider": "Provider", "starts_on": date(2026, 9, 1), "planned_end_on": date(2028, 3, 1),
              "weekly_hours": Decimal(37), "english_maths": EnglishMaths.ACHIEVED} | overrides
    return apprenticeships.create_apprenticeship(actor, **values)


def test_only_an_active_apprentice_without_an_apprenticeship_in_progress_can_start(coordinator, version, apprentice):
    learner = make_person("lee@example.org", name="Lee Learner", roles=(Role.LEARNER,))
    with pytest.raises(ServiceError, match="Lee Learner does not have the apprentice role") as refused:
        _create(coordinator, learner, version)
    assert refused.value.field == "apprentice"

    _create(coordinator, apprentice, version)
    with pytest.raises(ServiceError, match="Ada Lovelace already has an apprenticeship in progress"):
        _create(coordinator, apprentice, version)

    gone = make_apprentice("gone@example.org", name="Gone Person")
    gone.active = False
    with pytest.raises(ServiceError, match="Gone Person's account is deactivated"):
        _create(coordinator, gone, version)


def test_the_form_offers_only_apprentices_in_scope_and_free_to_start(client, coordinator, version, apprentice):
    make_apprentice("far@example.org", name="Far Away", organisation_code=ISLINGTON)
    busy = make_apprentice("busy@example.org", name="Busy Bee")
    make_apprenticeship(busy, standard_version=version)
    page = text_of(client.get("/apprenticeships/new"))
    assert "Ada Lovelace" in page
    assert "Far Away" not in page and "Busy Bee" not in page


# Correcting a record -----------------------------------------------------------------------------


def edit_form(a: Apprenticeship, **overrides) -> dict:
    data = {
        "employer": str(a.employer_id), "intake": str(a.intake_id or ""), "training_provider": a.training_provider,
        "starts_on": parts(a.starts_on), "planned_end_on": parts(a.planned_end_on),
        "weekly_hours": f"{a.weekly_hours.normalize():f}", "prior_learning_hours": "0",
        "english_maths": a.english_maths.value, "english_maths_note": a.english_maths_note or "",
        "planned_otj_hours": "", "otj_change_reason": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def older(version):
    """An apprenticeship under the 2022 rules, where hours and dates drive the plan."""
    return make_apprenticeship(make_apprentice("ola@example.org", name="Ola Older"), standard_version=version,
                               starts_on=date(2025, 1, 6), months=24)


def test_the_edit_form_shows_the_record(client, coordinator, older):
    page = client.get(f"/apprenticeships/{older.id}/edit")
    assert page.status_code == 200
    assert page_title(page) == "Change Ola Older's apprenticeship – Pathways"
    assert 'value="Digital Skills Training Ltd"' in html_of(page)
    assert f"Now {older.planned_otj_hours} hours; the rules give {older.planned_otj_hours_by_rule}" in text_of(page)


def test_a_change_that_leaves_planned_hours_alone_needs_no_reason(client, coordinator, older):
    before = older.planned_otj_hours
    response = post_form(client, f"/apprenticeships/{older.id}/edit",
                         edit_form(older, training_provider="Better Training"))
    assert response.status_code == 302
    db.session.refresh(older)
    assert (older.training_provider, older.planned_otj_hours) == ("Better Training", before)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "apprenticeship.updated"))
    assert event.details["changes"] == {"training_provider": ["Digital Skills Training Ltd", "Better Training"]}


def test_new_hours_recompute_the_plan_and_the_change_needs_a_reason(client, coordinator, older):
    old_plan = older.planned_otj_hours
    new_plan = apprenticeship_rules.planned_otj_hours(
        apprenticeship_rules.RULE_SETS_BY_KEY["2022-08"], start=older.starts_on, planned_end=older.planned_end_on,
        weekly_hours=Decimal(20), published_minimum=400)
    assert new_plan < old_plan
    path = f"/apprenticeships/{older.id}/edit"
    planned_end = apprenticeship_rules.add_months(older.starts_on, 24)

    refused = post_form(client, path, edit_form(older, weekly_hours="20"))
    assert field_error(refused, "otj_change_reason") == (
        f"The planned off-the-job hours would change from {old_plan} to {new_plan}. Planned hours are fixed at the "
        "start, so enter the error this corrects")
    db.session.refresh(older)
    assert older.weekly_hours == 37

    accepted = post_form(client, path, edit_form(older, weekly_hours="20",
                                                 otj_change_reason="Contract is 20 hours a week, typed as 37"))
    assert accepted.status_code == 302
    db.session.refresh(older)
    assert (older.weekly_hours, older.planned_otj_hours_by_rule, older.planned_otj_hours) == (20, new_plan, new_plan)
    assert older.otj_override_reason is None
    assert older.planned_end_on == planned_end
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "apprenticeship.updated"))
    assert event.details["changes"]["planned_otj_hours"] == [old_plan, new_plan]
    assert event.details["otj_change_reason"] == "Contract is 20 hours a week, typed as 37"


def test_the_applied_figure_can_be_corrected_only_with_a_reason(client, coordinator, older):
    path = f"/apprenticeships/{older.id}/edit"
    refused = post_form(client, path, edit_form(older, planned_otj_hours="500"))
    assert "would change from" in field_error(refused, "otj_change_reason")

    post_form(client, path, edit_form(older, planned_otj_hours="500", otj_change_reason="Plan agreed at 500 hours"))
    db.session.refresh(older)
    assert (older.planned_otj_hours, older.otj_override_reason) == (500, "Plan agreed at 500 hours")
    # Later changes keep the corrected figure and its reason.
    post_form(client, path, edit_form(older, planned_otj_hours="500", training_provider="Another"))
    db.session.refresh(older)
    assert (older.planned_otj_hours, older.otj_override_reason, older.training_provider) == (
        500, "Plan agreed at 500 hours", "Another")
    assert "Reason for the difference: Plan agreed at 500 hours" in text_of(client.get(f"/apprenticeships/{older.id}"))


def test_new_dates_reschedule_the_reviews(client, coordinator, version):
    a = make_apprenticeship(standard_version=version, starts_on=date(2025, 9, 1), months=12)
    assert [r.due_on for r in a.reviews] == [date(2025, 12, 1), date(2026, 3, 1), date(2026, 6, 1), date(2026, 9, 1)]
    response = post_form(client, f"/apprenticeships/{a.id}/edit",
                         edit_form(a, planned_end_on=parts(date(2027, 3, 1))))
    assert response.status_code == 302
    reviews = db.session.scalars(select(ProgressReview).where(ProgressReview.apprenticeship_id == a.id)
                                 .order_by(ProgressReview.sequence)).all()
    assert [r.due_on for r in reviews][-2:] == [date(2026, 12, 1), date(2027, 3, 1)]
    assert len(reviews) == 6


def test_edits_are_refused_beside_the_field(client, coordinator, older):
    path = f"/apprenticeships/{older.id}/edit"
    too_short = post_form(client, path, edit_form(older, planned_end_on=parts(date(2025, 12, 1))))
    assert "on or after 6 January 2026" in field_error(too_short, "planned_end_on")
    make_otj(older, on=date(2025, 2, 3))
    later_start = post_form(client, path, edit_form(older, starts_on=parts(date(2025, 3, 3))))
    assert field_error(later_start, "starts_on") == (
        "Off-the-job hours are logged from 3 February 2025, before that start date")
    note = post_form(client, path, edit_form(older, english_maths="not_required"))
    assert "Enter why English and maths are not required" in field_error(note, "english_maths_note")
    other = post_form(client, path, edit_form(older, employer=str(organisation(ISLINGTON).id)))
    assert field_error(other, "employer") == "Select the employer"
    db.session.refresh(older)
    assert older.employer.code == HACKNEY


# The list -------------------------------------------------------------------------------------------


def test_the_list_shows_the_records_the_coordinator_coordinates(client, coordinator, version):
    intake = make_intake("September 2025")
    mine = make_apprenticeship(make_apprentice("a1@example.org", name="Amal Hackney"), standard_version=version,
                               intake=intake)
    placed_here = make_apprenticeship(make_apprentice("a2@example.org", name="Bo Placed"), standard_version=version,
                                      employer_code=TOWER_HAMLETS)
    make_placement(placed_here, host_code=HACKNEY)
    elsewhere = make_apprenticeship(make_apprentice("a3@example.org", name="Cy Elsewhere"), standard_version=version,
                                    employer_code=ISLINGTON)
    make_placement(elsewhere, host_code=LAMBETH)
    make_otj(mine, status=OtjStatus.APPROVED, minutes=150)

    page = client.get("/apprenticeships")
    assert page.status_code == 200 and page_title(page) == "Apprenticeships – Pathways"
    text = text_of(page)
    assert "2 apprenticeships" in text
    assert "Amal Hackney" in text and "Bo Placed" in text and "Cy Elsewhere" not in text
    assert f"2.5 of {mine.planned_otj_hours}" in text
    assert "Add an apprenticeship" in text

    assert "Bo Placed" not in text_of(client.get(f"/apprenticeships?intake={intake.id}"))
    assert "Amal Hackney" not in text_of(client.get("/apprenticeships?q=placed"))
    by_employer = text_of(client.get(f"/apprenticeships?employer={organisation(TOWER_HAMLETS).id}"))
    assert "Bo Placed" in by_employer and "Amal Hackney" not in by_employer
    assert "0 apprenticeships" in text_of(client.get("/apprenticeships?status=withdrawn"))
    assert "2 apprenticeships" in text_of(client.get(f"/apprenticeships?standard={version.standard_id}"))
    other = make_standard_version("ST0118", title="Data analyst")
    assert "0 apprenticeships" in text_of(client.get(f"/apprenticeships?standard={other.standard_id}"))


def test_a_programme_wide_coordinator_sees_every_record(client, version):
    sign_in(client, make_coordinator("wide@example.org", scope=()))
    make_apprenticeship(standard_version=version, employer_code=ISLINGTON)
    make_apprenticeship(standard_version=version, employer_code=LAMBETH)
    assert "2 apprenticeships" in text_of(client.get("/apprenticeships"))


def count_queries(client, path: str) -> int:
    statements = []

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before_cursor_execute)
    try:
        response = client.get(path)
    finally:
        event.remove(db.engine, "before_cursor_execute", before_cursor_execute)
    assert response.status_code == 200
    return len(statements)


def test_the_list_pages_and_its_queries_do_not_grow_with_the_records(client, coordinator, version):
    intake = make_intake("Large intake")
    for n in range(3):
        make_apprenticeship(make_apprentice(f"few{n}@example.org", name=f"Few {n}"), standard_version=version,
                            intake=intake, schedule=False)
    few = count_queries(client, "/apprenticeships")
    for n in range(30):
        a = make_apprenticeship(make_apprentice(f"many{n:02d}@example.org", name=f"Many {n:02d}"),
                                standard_version=make_standard_version(f"ST8{n:03d}"), intake=intake, schedule=False)
        make_otj(a, status=OtjStatus.APPROVED)
    assert count_queries(client, "/apprenticeships") == few
    first, second = client.get("/apprenticeships"), client.get("/apprenticeships?page=2")
    assert "Showing 1 to 25 of 33" in text_of(first)
    assert "Showing 26 to 33 of 33" in text_of(second)
    assert 'href="/apprenticeships?page=2' in html_of(first)


# The overview ---------------------------------------------------------------------------------------


def test_the_overview_shows_the_placement_today_hours_and_next_review(client, coordinator, version):
    a = make_apprenticeship(make_apprentice("ov@example.org", name="Ova View"), standard_version=version,
                            starts_on=clock.today() - timedelta(days=200))
    supervisor = make_supervisor("sup@example.org", organisation_code=TOWER_HAMLETS)
    make_placement(a, supervisor=supervisor, host_code=TOWER_HAMLETS, starts_on=a.starts_on,
                   ends_on=clock.today() + timedelta(days=30))
    make_otj(a, status=OtjStatus.APPROVED, minutes=600)
    make_otj(a, minutes=90, on=clock.today() - timedelta(days=2))

    page = client.get(f"/apprenticeships/{a.id}")
    assert page.status_code == 200
    assert page_title(page) == "Ova View: apprenticeship overview – Pathways"
    text = text_of(page)
    assert "Host organisation London Borough of Tower Hamlets" in text and "Supervisor Sam Supervisor" in text
    assert "Approved 10 hours" in text and "Waiting for approval 1.5 hours" in text
    assert f"Planned {a.planned_otj_hours} hours" in text
    first_due = a.reviews[0].due_on
    assert f"Review 1: due on {first_due:%-d %B %Y} Overdue" in text
    assert "Change status" in text and "Change the details" in text
    assert 'aria-current="page">Overview</a>' in html_of(page)


# Who may see and change what -----------------------------------------------------------------------


@pytest.fixture
def record(version):
    a = make_apprenticeship(make_apprentice("own@example.org", name="Owen Own"), standard_version=version)
    return a


PAGES = ("", "/edit", "/status")


def _statuses(client, a) -> list[int]:
    return [client.get(f"/apprenticeships/{a.id}{suffix}").status_code for suffix in PAGES]


def test_the_apprentice_sees_their_own_record_but_cannot_change_it(client, record):
    sign_in(client, record.apprentice)
    assert _statuses(client, record) == [200, 403, 403]
    assert "Change status" not in text_of(client.get(f"/apprenticeships/{record.id}"))
    assert client.get("/my-apprenticeship").headers["Location"] == f"/apprenticeships/{record.id}"


def test_another_apprentice_gets_not_found(client, record):
    sign_in(client, make_apprentice("other@example.org"))
    assert _statuses(client, record) == [404, 404, 404]
    assert client.post(f"/apprenticeships/{record.id}/status", data={}).status_code in (400, 404)


def test_an_apprentice_without_a_record_is_told_what_happens_next(client):
    sign_in(client, make_apprentice("new@example.org"))
    page = client.get("/my-apprenticeship")
    assert page.status_code == 200
    assert page_title(page) == "You do not have an apprenticeship yet – Pathways"


def test_a_supervisor_who_never_supervised_the_apprentice_gets_not_found(client, record):
    make_placement(record)
    sign_in(client, make_supervisor("stranger@example.org"))
    assert _statuses(client, record) == [404, 404, 404]


def test_a_past_supervisor_can_view_but_not_change(client, record):
    past = make_supervisor("past@example.org")
    make_placement(record, supervisor=past, starts_on=record.starts_on,
                   ends_on=clock.today() - timedelta(days=10))
    sign_in(client, past)
    assert _statuses(client, record) == [200, 403, 403]
    response = post_form(client, f"/apprenticeships/{record.id}/status", {
        "to_status": "withdrawn", "effective_on": parts(clock.today()), "reason": "No"},
        token_from=f"/apprenticeships/{record.id}")
    assert response.status_code == 403
    assert record.status is ApprenticeshipStatus.ACTIVE


def test_a_coordinator_of_another_borough_gets_not_found(client, record):
    sign_in(client, make_coordinator("islington@example.org", scope=(ISLINGTON,), organisation_code=ISLINGTON))
    assert _statuses(client, record) == [404, 404, 404]
    assert "Owen Own" not in text_of(client.get("/apprenticeships"))


def test_a_coordinator_of_a_host_organisation_can_see_and_change_the_record(client, record):
    make_placement(record, host_code=TOWER_HAMLETS)
    sign_in(client, make_coordinator("th@example.org", scope=(TOWER_HAMLETS,), organisation_code=TOWER_HAMLETS))
    assert _statuses(client, record) == [200, 200, 200]
    assert "Owen Own" in text_of(client.get("/apprenticeships"))
    response = post_form(client, f"/apprenticeships/{record.id}/edit", edit_form(record, training_provider="New one"))
    assert response.status_code == 302
    db.session.refresh(record)
    assert record.training_provider == "New one"


def test_apprentices_and_supervisors_cannot_use_the_coordinators_pages(client, record):
    sign_in(client, record.apprentice)
    assert client.get("/apprenticeships").status_code == 403
    assert client.get("/apprenticeships/new").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client, record):
    for path in ("/apprenticeships", "/apprenticeships/new", f"/apprenticeships/{record.id}",
                 f"/apprenticeships/{record.id}/edit", f"/apprenticeships/{record.id}/status", "/my-apprenticeship"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/sign-in"), path
