"""Calendar arithmetic for loan schedules: day-count conventions and month stepping.

Kept apart from the schedule generator because close of business (penalty and accrued
interest) needs exactly the same conventions; one implementation keeps the schedule and
the accrual from disagreeing by a cent.

Conventions
-----------
* ``ACT_360`` (the default in Chinese lending): actual calendar days / 360.
* ``ACT_365``: actual calendar days / 365 ("ACT/365 Fixed"; leap years are not special).
* ``THIRTY_360``: 30/360 bond basis (ISDA 2006 §4.16(f)): a 31st start day counts as the
  30th, and a 31st end day counts as the 30th when the start day is the 30th or 31st.
  February's month end is *not* adjusted, so 31 Jan → 29 Feb counts 29 days.

The fraction is returned as numerator and denominator separately as well, so that interest
can be computed as ``amount * rate * days / basis`` with a single division (one rounding).
"""

from __future__ import annotations

import calendar
from datetime import date
from decimal import Decimal
from enum import Enum

__all__ = ["DayCount", "add_months", "day_count_days", "year_basis", "year_fraction"]


class DayCount(Enum):
    ACT_360 = "ACT_360"
    ACT_365 = "ACT_365"
    THIRTY_360 = "THIRTY_360"


_BASIS: dict[DayCount, int] = {DayCount.ACT_360: 360, DayCount.ACT_365: 365, DayCount.THIRTY_360: 360}


def year_basis(day_count: DayCount) -> int:
    """Days in the convention's year (the denominator of the year fraction)."""
    return _BASIS[day_count]


def day_count_days(start: date, end: date, day_count: DayCount) -> int:
    """Days between ``start`` and ``end`` as the convention counts them (negative if reversed)."""
    if day_count is DayCount.THIRTY_360:
        d1 = min(start.day, 30)
        d2 = end.day
        if d2 == 31 and d1 == 30:
            d2 = 30
        return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)
    return (end - start).days


def year_fraction(start: date, end: date, day_count: DayCount) -> Decimal:
    """Fraction of a year between two dates under ``day_count``.

    Exact for ACT/360 and 30/360 up to the context precision; prefer
    ``day_count_days(...) / year_basis(...)`` inside a larger product so the division comes
    last and rounding happens once.
    """
    return Decimal(day_count_days(start, end, day_count)) / Decimal(year_basis(day_count))


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def add_months(anchor: date, months: int) -> date:
    """``anchor`` moved by ``months`` calendar months, keeping the anchor's day of month.

    Clamped to the month end when the month is shorter (31 Jan + 1 → 28/29 Feb, + 2 → 31 Mar).
    Callers step from the original anchor (``add_months(start, k)``) rather than chaining
    from the previous result, which would drift (31 Jan → 29 Feb → 29 Mar).
    """
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month0 = divmod(index, 12)
    day = anchor.day
    # A lookup table instead of calendar.monthrange (which also computes a weekday): this
    # runs once per installment and dominated schedule generation time.
    if day > 28:
        last_day = 29 if month0 == 1 and calendar.isleap(year) else _MONTH_DAYS[month0]
        if day > last_day:
            day = last_day
    return date(year, month0 + 1, day)
