"""The one clock: the suite runs at its frozen instant, and Pathways' "today" is London's date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from app.models.types import utcnow
from app.services import clock
from tests.conftest import suite_instant


def test_the_suite_runs_at_its_frozen_instant_whatever_the_wall_clock_says():
    # The clock ticks from the instant, so a test sees it minutes later at most, never days.
    assert timedelta(0) <= utcnow() - suite_instant() < timedelta(minutes=30)
    assert clock.today() == suite_instant().astimezone(clock.LONDON).date()
    assert date.today() == clock.today()


@pytest.mark.parametrize(("instant", "london_day"), [
    # In summer time, London's day starts an hour before UTC's.
    (datetime(2026, 6, 30, 23, 30, tzinfo=UTC), date(2026, 7, 1)),
    # Just after the clocks went back and forward.
    (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), date(2026, 10, 25)),
    (datetime(2027, 3, 27, 23, 30, tzinfo=UTC), date(2027, 3, 27)),
    (datetime(2027, 3, 28, 23, 30, tzinfo=UTC), date(2027, 3, 29)),
    (datetime(2028, 2, 29, 23, 59, tzinfo=UTC), date(2028, 2, 29)),
])
def test_today_is_londons_date(instant, london_day):
    with time_machine.travel(instant, tick=False):
        assert clock.today() == london_day
