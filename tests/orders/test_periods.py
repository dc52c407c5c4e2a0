import datetime

import pytest

from orders.periods import add_months, anchor_fits

D = datetime.date


@pytest.mark.parametrize(
    ("start", "months", "anchor", "expected"),
    [
        (D(2026, 1, 31), 1, 31, D(2026, 2, 28)),  # SPEC: Jan 31 + 1 month = Feb 28
        (D(2026, 2, 28), 1, 31, D(2026, 3, 31)),  # + 1 more = Mar 31: the anchor comes back
        (D(2028, 1, 31), 1, 31, D(2028, 2, 29)),  # leap year
        (D(2028, 2, 29), 12, 29, D(2029, 2, 28)),  # leap day + 1 year
        (D(2029, 2, 28), 12, 29, D(2030, 2, 28)),
        (D(2027, 2, 28), 12, 29, D(2028, 2, 29)),  # and back to the 29th in the next leap year
        (D(2026, 3, 31), 1, 31, D(2026, 4, 30)),
        (D(2026, 4, 30), 1, 31, D(2026, 5, 31)),
        (D(2026, 12, 15), 1, 15, D(2027, 1, 15)),  # across the year end
        (D(2026, 11, 30), 3, 30, D(2027, 2, 28)),
        (D(2026, 1, 10), 24, 10, D(2028, 1, 10)),
        (D(2026, 8, 31), 6, 31, D(2027, 2, 28)),
        (D(2026, 3, 31), -1, 31, D(2026, 2, 28)),  # backwards, for co-termination maths
    ],
)
def test_add_months(start, months, anchor, expected):
    assert add_months(start, months, anchor) == expected


def test_anchor_defaults_to_the_start_day():
    assert add_months(D(2026, 1, 31), 1) == D(2026, 2, 28)
    assert add_months(D(2026, 5, 17), 2) == D(2026, 7, 17)


def test_a_year_of_monthly_renewals_keeps_the_31st():
    paid_thru, seen = D(2026, 1, 31), []
    for _ in range(12):
        paid_thru = add_months(paid_thru, 1, 31)
        seen.append(paid_thru.day)
    assert seen == [28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31]


def test_bad_anchor_is_refused():
    with pytest.raises(ValueError, match="anchor day must be 1-31"):
        add_months(D(2026, 1, 1), 1, 32)


@pytest.mark.parametrize(
    ("expires_on", "anchor", "fits"),
    [
        (D(2026, 2, 28), 31, True),
        (D(2026, 2, 28), 28, True),
        (D(2026, 2, 27), 31, False),
        (D(2026, 3, 15), 15, True),
        (D(2026, 3, 15), 16, False),
        (D(2026, 4, 30), 31, True),
        (D(2026, 4, 30), 29, False),
    ],
)
def test_anchor_fits(expires_on, anchor, fits):
    assert anchor_fits(expires_on, anchor) is fits
