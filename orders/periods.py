"""Month arithmetic of renewals (SPEC "Orders"): whole calendar months from the
paid-thru date, keeping the order's day of month (its anchor).

    Jan 31 + 1 month = Feb 28 (Feb 29 in a leap year); + 1 more = Mar 31.
"""

import calendar
import datetime


def days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def add_months(start: datetime.date, months: int, anchor_day: int | None = None) -> datetime.date:
    """``start`` moved by ``months`` whole months, landing on ``anchor_day``
    (default: the day of ``start``), or on the month's last day when the month
    is shorter."""
    anchor = anchor_day if anchor_day is not None else start.day
    if not 1 <= anchor <= 31:
        raise ValueError(f"anchor day must be 1-31, not {anchor}")
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return datetime.date(year, month, min(anchor, days_in_month(year, month)))


def anchor_fits(expires_on: datetime.date, anchor_day: int) -> bool:
    """Whether a paid-thru date can belong to an order anchored on ``anchor_day``:
    it falls on that day, or on the last day of a month too short for it."""
    last = days_in_month(expires_on.year, expires_on.month)
    return expires_on.day == anchor_day or (expires_on.day == last and anchor_day > last)


def days_remaining(expires_on: datetime.date | None, on: datetime.date) -> int | None:
    """Days from ``on`` to the paid-thru date (negative once it passed); None
    for an order that never expires."""
    return (expires_on - on).days if expires_on else None
