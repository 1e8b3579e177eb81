"""Off-the-job hours against plan: approved, waiting, and the pro rata amount expected by a date.

The plan is spread evenly over the practical period; time in a break in learning neither counts
towards the expected amount nor shortens the period (the planned end moves with the break).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cache

from sqlalchemy import bindparam, extract, func, select

from app.extensions import db
from app.models import Apprenticeship, OtjActivity, OtjStatus
from app.services import clock

TWO_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class OtjTotals:
    planned_hours: int
    approved_hours: Decimal
    waiting_hours: Decimal
    expected_hours: Decimal  # pro rata by ``as_of``
    as_of: date

    @property
    def behind_hours(self) -> Decimal:
        return max(Decimal(0), self.expected_hours - self.approved_hours)

    @property
    def percent_of_plan(self) -> int:
        if not self.planned_hours:
            return 100
        return int(self.approved_hours * 100 / self.planned_hours)

    @property
    def percent_of_expected(self) -> int:
        if not self.expected_hours:
            return 100
        return int(self.approved_hours * 100 / self.expected_hours)

    @property
    def met(self) -> bool:
        return self.approved_hours >= self.planned_hours


def _hours(minutes) -> Decimal:
    return (Decimal(minutes or 0) / 60).quantize(TWO_PLACES)


def break_days_until(apprenticeship: Apprenticeship, day: date) -> int:
    """Days inside breaks in learning from the start up to and including ``day``."""
    total = 0
    for b in apprenticeship.breaks:
        end = min(b.ends_on or day, day)
        if end >= b.starts_on:
            total += (end - b.starts_on).days + 1
    return total


def in_break(apprenticeship: Apprenticeship, day: date) -> bool:
    return any(b.starts_on <= day and (b.ends_on is None or day <= b.ends_on) for b in apprenticeship.breaks)


def expected_hours(apprenticeship: Apprenticeship, day: date) -> Decimal:
    """The pro rata share of planned hours due by ``day``."""
    start, end = apprenticeship.starts_on, apprenticeship.planned_end_on
    if day < start:
        return Decimal(0)
    last = min(day, apprenticeship.actual_end_on or end, end)
    # Breaks so far come off both the time elapsed and the whole period (whose planned end moves on by the
    # break), so the share reaches the full plan at the planned end.
    breaks = break_days_until(apprenticeship, last)
    total_days = (end - start).days + 1 - breaks
    elapsed = (last - start).days + 1 - breaks
    if total_days <= 0:
        return Decimal(apprenticeship.planned_otj_hours)
    share = Decimal(max(elapsed, 0)) / Decimal(total_days)
    return (Decimal(apprenticeship.planned_otj_hours) * min(share, Decimal(1))).quantize(TWO_PLACES)


def totals(apprenticeship: Apprenticeship, as_of: date | None = None) -> OtjTotals:
    as_of = as_of or clock.today()
    rows = db.session.execute(
        select(OtjActivity.status, func.sum(OtjActivity.minutes))
        .where(OtjActivity.apprenticeship_id == apprenticeship.id)
        .group_by(OtjActivity.status)
    ).all()
    minutes = {status: total for status, total in rows}
    return OtjTotals(
        planned_hours=apprenticeship.planned_otj_hours,
        approved_hours=_hours(minutes.get(OtjStatus.APPROVED)),
        waiting_hours=_hours(minutes.get(OtjStatus.SUBMITTED)),
        expected_hours=expected_hours(apprenticeship, as_of),
        as_of=as_of,
    )


def approved_hours_by_apprenticeship(apprenticeship_ids) -> dict[int, Decimal]:
    """Approved hours for many apprenticeships in one query."""
    ids = list(apprenticeship_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(OtjActivity.apprenticeship_id, func.sum(OtjActivity.minutes))
        .where(OtjActivity.apprenticeship_id.in_(ids), OtjActivity.status == OtjStatus.APPROVED)
        .group_by(OtjActivity.apprenticeship_id)
    ).all()
    found = {aid: _hours(m) for aid, m in rows}
    return {aid: found.get(aid, Decimal("0.00")) for aid in ids}


def cumulative_by_month(apprenticeship: Apprenticeship, as_of: date | None = None) -> list[dict]:
    """Month-end points from the start to ``as_of`` (or the end): approved hours so far and the plan so
    far, for the chart of actual against plan."""
    as_of = as_of or clock.today()
    rows = db.session.execute(
        select(OtjActivity.occurred_on, OtjActivity.minutes).where(
            OtjActivity.apprenticeship_id == apprenticeship.id, OtjActivity.status == OtjStatus.APPROVED
        )
    ).all()
    by_month: dict[tuple[int, int], int] = {}
    for day, mins in rows:
        by_month[(day.year, day.month)] = by_month.get((day.year, day.month), 0) + mins
    return _cumulative(apprenticeship, as_of, by_month)


def _cumulative(apprenticeship, as_of: date, by_month: dict[tuple[int, int], int]) -> list[dict]:
    end = min(as_of, apprenticeship.actual_end_on or apprenticeship.planned_end_on)
    points, running = [], 0
    year, month = apprenticeship.starts_on.year, apprenticeship.starts_on.month
    while (year, month) <= (end.year, end.month):
        next_first = date(year + (month == 12), month % 12 + 1, 1)
        month_end = min(next_first - timedelta(days=1), end)
        running += by_month.get((year, month), 0)
        points.append({
            "month": date(year, month, 1),
            "as_of": month_end,
            "approved_hours": _hours(running),
            "expected_hours": expected_hours(apprenticeship, month_end),
        })
        year, month = next_first.year, next_first.month
    return points


@dataclass(frozen=True)
class OtjFigures:
    """What a record page shows of an apprenticeship's hours, from one grouped query."""

    totals: OtjTotals
    points: list[dict]  # as cumulative_by_month gives them
    entries: dict[OtjStatus, int]  # how many entries of each status

    @property
    def entry_count(self) -> int:
        return sum(self.entries.values())


@cache
def _by_status_and_month():
    """Built once: an apprenticeship's minutes and entries by status and month."""
    year, month = extract("year", OtjActivity.occurred_on), extract("month", OtjActivity.occurred_on)
    return (
        select(OtjActivity.status, year, month, func.sum(OtjActivity.minutes), func.count())
        .where(OtjActivity.apprenticeship_id == bindparam("apprenticeship_id"))
        .group_by(OtjActivity.status, year, month)
    )


def figures(apprenticeship, as_of: date | None = None) -> OtjFigures:
    """:func:`totals`, :func:`cumulative_by_month` and the number of entries of each status, summed by the
    database per status and month (the apprenticeship's entries, read through its index, never loaded).
    ``apprenticeship`` needs the columns ``totals`` reads and ``breaks``."""
    as_of = as_of or clock.today()
    # On the session's connection: plain rows, no object loading.
    rows = db.session.connection().execute(_by_status_and_month(), {"apprenticeship_id": apprenticeship.id}).all()
    minutes: dict[OtjStatus, int] = {}
    entries: dict[OtjStatus, int] = {}
    approved_by_month: dict[tuple[int, int], int] = {}
    for status, in_year, in_month, total, count in rows:
        minutes[status] = minutes.get(status, 0) + total
        entries[status] = entries.get(status, 0) + count
        if status is OtjStatus.APPROVED:
            approved_by_month[(int(in_year), int(in_month))] = total
    return OtjFigures(
        totals=OtjTotals(
            planned_hours=apprenticeship.planned_otj_hours,
            approved_hours=_hours(minutes.get(OtjStatus.APPROVED)),
            waiting_hours=_hours(minutes.get(OtjStatus.SUBMITTED)),
            expected_hours=expected_hours(apprenticeship, as_of),
            as_of=as_of,
        ),
        points=_cumulative(apprenticeship, as_of, approved_by_month),
        entries=entries,
    )
