"""Hours as Pathways shows them: one rounding rule for the review rows, the flags' reasons, the exports and the
record pages, so a figure reads the same wherever it appears.

Hours are kept to two decimal places, rounded half up: off-the-job time is recorded in minutes, and two places
keep a total of minutes as it was recorded (45 minutes is 0.75 hours), so "143.98 of 144 planned hours" never
reads as "144 of 144". Shown without needless zeros: 400, 312.5, 466.47.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

PLACES = Decimal("0.01")


def rounded(value: Decimal | int | float | str | None) -> Decimal | None:
    """``value`` hours to the shown precision (None stays None)."""
    if value is None:
        return None
    return Decimal(str(value) if isinstance(value, float) else value).quantize(PLACES, rounding=ROUND_HALF_UP)


def from_minutes(minutes: int | None) -> Decimal:
    """Minutes as hours, rounded by the same rule."""
    return rounded(Decimal(minutes or 0) / 60)


def figure(value) -> int | float | None:
    """Hours as a plain number for exports and tables: a whole number as an int, otherwise a float."""
    value = rounded(value)
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def text(value, *, grouping: bool = False) -> str:
    """Hours as words on a page: "400", "312.5", "466.47" (with ``grouping``, "1,250.5")."""
    value = rounded(value)
    if value is None:
        return ""
    shown = f"{value:,.2f}" if grouping else f"{value:.2f}"
    return shown.rstrip("0").rstrip(".") if "." in shown else shown
