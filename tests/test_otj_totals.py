"""The pro rata plan of off-the-job hours: spread evenly over the practical period, paused by breaks."""

from datetime import date, timedelta
from decimal import Decimal

from app.extensions import db
from app.models import BreakInLearning, OtjStatus
from app.services import otj_totals
from tests.apprenticeship_factories import make_apprenticeship, make_otj


def test_expected_hours_grow_evenly_and_reach_the_plan_at_the_planned_end(app_context):
    a = make_apprenticeship(starts_on=date(2023, 1, 1), months=24)
    assert otj_totals.expected_hours(a, date(2022, 12, 31)) == 0
    halfway = a.starts_on + (a.planned_end_on - a.starts_on) / 2
    assert abs(otj_totals.expected_hours(a, halfway) - Decimal(a.planned_otj_hours) / 2) < 1
    assert otj_totals.expected_hours(a, a.planned_end_on) == a.planned_otj_hours
    assert otj_totals.expected_hours(a, a.planned_end_on + timedelta(days=90)) == a.planned_otj_hours


def test_a_break_pauses_the_plan_and_the_full_plan_is_still_due_by_the_moved_end(app_context):
    a = make_apprenticeship(starts_on=date(2023, 1, 1), months=24)
    before_break = otj_totals.expected_hours(a, date(2023, 6, 30))
    db.session.add(BreakInLearning(apprenticeship=a, starts_on=date(2023, 7, 1), ends_on=date(2023, 7, 30),
                                   reason="Illness"))
    a.planned_end_on += timedelta(days=30)
    db.session.commit()
    assert otj_totals.expected_hours(a, date(2023, 7, 30)) == before_break
    assert otj_totals.expected_hours(a, a.planned_end_on) == a.planned_otj_hours


def test_totals_count_approved_and_waiting_hours_separately(app_context):
    a = make_apprenticeship()
    make_otj(a, minutes=90, status=OtjStatus.APPROVED)
    make_otj(a, minutes=30, status=OtjStatus.SUBMITTED)
    make_otj(a, minutes=600, status=OtjStatus.REJECTED)
    totals = otj_totals.totals(a)
    assert (totals.approved_hours, totals.waiting_hours) == (Decimal("1.50"), Decimal("0.50"))
    assert otj_totals.approved_hours_by_apprenticeship([a.id]) == {a.id: Decimal("1.50")}
    points = otj_totals.cumulative_by_month(a)
    assert points[-1]["approved_hours"] == Decimal("1.50")
