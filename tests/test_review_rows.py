"""The cohort review's rows, written ahead of time: what a refresh writes for each apprenticeship (and who may see
it), and how the services that change a record, its placements, its hours or a name rewrite its row at once, so
the review shows the change on the next page without waiting for the daily refresh."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import (
    ActivityType,
    ApprenticeshipReviewRow,
    ApprenticeshipReviewScope,
    ApprenticeshipStatus,
    OtjStatus,
    RiskRating,
)
from app.services import apprenticeships, clock, hours, intakes, off_the_job, otj_totals, placements, review_rows, risk
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_intake,
    make_otj,
    make_placement,
    make_standard_version,
    make_supervisor,
    make_team,
)
from tests.conftest import organisation, sign_in
from tests.test_cohort_review import review_table

HACKNEY, TOWER_HAMLETS, LAMBETH = "E09000012", "E09000030", "E09000022"


def row_of(apprenticeship) -> ApprenticeshipReviewRow | None:
    db.session.expire_all()
    return db.session.get(ApprenticeshipReviewRow, apprenticeship.id)


def scope_of(apprenticeship) -> set[int]:
    return set(db.session.scalars(select(ApprenticeshipReviewScope.organisation_id)
                                  .where(ApprenticeshipReviewScope.apprenticeship_id == apprenticeship.id)))


@pytest.fixture
def record():
    """Ada's apprenticeship with Hackney, 200 days in, placed in Hackney since the start, in an intake."""
    intake = make_intake("September 2025")
    apprenticeship = make_apprenticeship(make_apprentice("ada@example.org", name="Ada Lovelace"),
                                         standard_version=make_standard_version("ST0116", title="Software developer"),
                                         intake=intake, starts_on=clock.today() - timedelta(days=200), schedule=False)
    supervisor = make_supervisor("sam@example.org")
    make_placement(apprenticeship, supervisor=supervisor, ends_on=clock.today() + timedelta(days=300))
    return apprenticeship


def test_a_refresh_writes_a_row_with_everything_the_review_shows(app_context, record):
    make_otj(record, minutes=600, status=OtjStatus.APPROVED)
    record.planned_end_on = clock.today() + timedelta(days=20)  # end near and not ready: red, with hours behind
    db.session.commit()
    make_placement(record, host_code=TOWER_HAMLETS, starts_on=clock.today() + timedelta(days=301),
                   ends_on=clock.today() + timedelta(days=400))
    risk.refresh_flags()
    db.session.commit()

    row = row_of(record)
    assert (row.name, row.sort_name, row.email) == ("Ada Lovelace", "ada lovelace", "ada@example.org")
    assert row.search_text == "ada lovelace\nada@example.org"
    assert (row.employer_id, row.employer_name) == (organisation(HACKNEY).id, "London Borough of Hackney")
    assert row.standard_label == "Software developer (ST0116, level 4)"
    assert (row.intake_id, row.intake_name) == (record.intake_id, "September 2025")
    assert (row.status, row.status_order) == (ApprenticeshipStatus.ACTIVE, 0)
    assert (row.starts_on, row.ends_on) == (record.starts_on, record.planned_end_on)
    expected = otj_totals.expected_hours(record, clock.today())
    assert (row.approved_hours, row.expected_hours) == (Decimal(10), expected)
    assert row.percent_of_expected == int(10 * 100 / expected) and row.progress_band == 0
    found = risk.flags_for_apprenticeship(record)  # red first, then in the rules' order
    assert json.loads(row.flags) == [[f.code, f.rating.value, f.reason] for f in found]
    assert (row.rating, row.rating_rank, row.pending) == (RiskRating.RED, 0, 0)
    assert row.flag_mask == sum(1 << risk.CODE_ORDER[f.code] for f in found)
    assert row.worked_out_at == risk.last_refreshed()
    assert [span[3] for span in json.loads(row.placements)] == ["London Borough of Hackney",
                                                                "London Borough of Tower Hamlets"]
    # Who may see it: the employer and every host.
    assert scope_of(record) == {organisation(HACKNEY).id, organisation(TOWER_HAMLETS).id}


def test_a_record_added_without_the_services_gets_its_row_when_the_review_opens(client, record):
    assert row_of(record) is None  # made straight from the models
    sign_in(client, make_coordinator("cora@example.org", scope=()))
    rows = review_table(client.get(f"/intakes/{record.intake_id}/review")).rows
    assert [(r["name"], r["rating"]) for r in rows] == [("Ada Lovelace", "Not worked out yet")]
    assert row_of(record).pending == 1
    assert review_rows.fill_missing() is False  # nothing missing now: one cheap check


# Kept current by the services ---------------------------------------------------------------------------------------


def test_approving_hours_updates_the_row_and_its_rating_at_once(client, record):
    risk.refresh_flags()
    db.session.commit()
    assert row_of(record).approved_hours == 0
    assert json.loads(row_of(record).flags)[0][2].startswith("Off-the-job hours 0 of ")
    logged = off_the_job.log_activity(record.apprentice, record, occurred_on=clock.today() - timedelta(days=1),
                                      minutes=60 * 7 + 30, activity_type=ActivityType.TEACHING,
                                      description="A day's course on testing",
                                      ksb_ids=[record.standard_version.ksbs[0].id])
    db.session.commit()
    assert row_of(record).approved_hours == 0  # waiting for approval: not counted
    off_the_job.approve(record.placements[0].supervisor, [logged])
    db.session.commit()
    row = row_of(record)
    assert row.approved_hours == Decimal("7.5")
    assert row.percent_of_expected == int(Decimal("7.5") * 100 / row.expected_hours)
    # The flag's reason was worked out again with the row: the same figures as the columns beside it.
    assert json.loads(row.flags)[0][2].startswith(f"Off-the-job hours 7.5 of {hours.text(row.expected_hours)} ")
    # And the review shows it on the next page.
    sign_in(client, make_coordinator("cora@example.org", scope=(HACKNEY,)))
    shown = review_table(client.get(f"/intakes/{record.intake_id}/review")).rows[0]
    assert shown["otj_approved"] == "7.5" and shown["progress"] == str(row.percent_of_expected)
    assert shown["otj_expected"] == hours.text(row.expected_hours)


def test_rejecting_hours_works_the_row_out_again(app_context, record):
    logged = make_otj(record, minutes=120)
    risk.refresh_flags()
    db.session.commit()
    before = row_of(record).written_at
    off_the_job.reject(make_coordinator("cora@example.org", scope=(HACKNEY,)), logged, "Not off-the-job learning")
    db.session.commit()
    assert row_of(record).written_at > before and row_of(record).approved_hours == 0


def test_a_new_or_changed_placement_updates_the_row_and_who_may_see_it(client, record):
    lambeth = make_coordinator("lambeth@example.org", scope=(LAMBETH,))
    risk.refresh_flags()
    db.session.commit()
    assert scope_of(record) == {organisation(HACKNEY).id}
    first = record.placements[0]
    placements.update_placement(None, first, team=first.team, supervisor=first.supervisor,
                                starts_on=first.starts_on, ends_on=clock.today() + timedelta(days=10),
                                objectives=first.objectives)
    db.session.commit()
    assert "placement_ending" in [code for code, _rating, _reason in json.loads(row_of(record).flags)]

    sign_in(client, lambeth)
    assert client.get(f"/intakes/{record.intake_id}/review").status_code == 404
    placements.add_placement(None, record, team=make_team(LAMBETH, "Data"),
                             supervisor=make_supervisor("lsup@example.org", organisation_code=LAMBETH),
                             starts_on=clock.today() + timedelta(days=11), ends_on=clock.today() + timedelta(days=200),
                             objectives="Data engineering")
    db.session.commit()
    row = row_of(record)
    assert [span[3] for span in json.loads(row.placements)][-1] == "London Borough of Lambeth"
    assert "placement_ending" not in [code for code, _rating, _reason in json.loads(row.flags)]
    assert scope_of(record) == {organisation(HACKNEY).id, organisation(LAMBETH).id}
    # Lambeth's coordinator sees Ada at once: the scope came with the row.
    rows = review_table(client.get("/cohort-review/apprentices")).rows
    assert [r["name"] for r in rows] == ["Ada Lovelace"]


def test_status_employer_and_intake_changes_update_the_row(app_context, record):
    apprenticeships.change_status(None, record, ApprenticeshipStatus.BREAK_IN_LEARNING,
                                  effective_on=clock.today(), reason="Illness")
    db.session.commit()
    assert (row_of(record).status, row_of(record).status_order) == (ApprenticeshipStatus.BREAK_IN_LEARNING, 1)
    spring = make_intake("Spring 2026")
    apprenticeships.update_apprenticeship(None, record, employer=organisation(TOWER_HAMLETS), intake=spring)
    db.session.commit()
    row = row_of(record)
    assert (row.employer_name, row.intake_id, row.intake_name) == (
        "London Borough of Tower Hamlets", spring.id, "Spring 2026")
    assert organisation(TOWER_HAMLETS).id in scope_of(record)


def test_renaming_an_intake_or_a_person_updates_their_rows(client, record):
    risk.refresh_flags()
    db.session.commit()
    intake = record.intake
    intakes.update_intake(None, intake, name="Autumn 2025", starts_on=intake.starts_on,
                          coordinator=intake.coordinator)
    db.session.commit()
    assert row_of(record).intake_name == "Autumn 2025"

    # Whatever changes a person's name or email calls refresh_for(people=...).
    person = record.apprentice
    person.name, person.email = "Ada King", "ada.king@example.org"
    review_rows.refresh_for(people=[person.id])
    db.session.commit()
    row = row_of(record)
    assert (row.name, row.sort_name, row.email) == ("Ada King", "ada king", "ada.king@example.org")
    assert row.search_text == "ada king\nada.king@example.org" and row.rating is not None  # flags kept
    sign_in(client, make_coordinator("cora@example.org", scope=(HACKNEY,)))
    rows = review_table(client.get(f"/intakes/{record.intake_id}/review?q=king")).rows
    assert [r["name"] for r in rows] == ["Ada King"]


def test_working_out_one_record_takes_a_fixed_number_of_statements_and_little_time(app_context, record):
    small = make_apprenticeship(make_apprentice("bo@example.org"), schedule=False)
    make_otj(small, minutes=60)
    for n in range(30):
        make_otj(record, on=clock.today() - timedelta(days=n + 1), minutes=60,
                 status=OtjStatus.APPROVED if n % 2 else OtjStatus.SUBMITTED)
    risk.refresh_flags()
    db.session.commit()

    def work_out(apprenticeship) -> tuple[int, float]:
        statements = []

        def count(*_args):
            statements.append(1)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            started = time.perf_counter()
            review_rows.refresh_for([apprenticeship.id])
            spent = time.perf_counter() - started
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        db.session.commit()
        return len(statements), spent

    (many, spent), (few, _spent) = work_out(record), work_out(small)
    # The refresh's selects, its DELETE and INSERT for the flags and the standings, and the row's; on
    # PostgreSQL two locks first (shared with other records' refreshes, and this record's own).
    assert many == few <= 18 + 2 * (db.engine.dialect.name == "postgresql")
    assert spent < 1.0  # generous: a few milliseconds on a quiet machine
    assert db.session.scalar(select(func.count()).select_from(ApprenticeshipReviewRow)) == 2


def test_rows_hold_hours_as_the_pages_show_them(app_context, record):
    make_otj(record, minutes=45, status=OtjStatus.APPROVED)
    risk.refresh_flags()
    db.session.commit()
    row = row_of(record)
    assert row.approved_hours == Decimal("0.75") and hours.text(row.approved_hours) == "0.75"
    assert hours.text(row.expected_hours) in json.loads(row.flags)[0][2]
