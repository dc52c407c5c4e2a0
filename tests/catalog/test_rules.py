"""The catalog's pure rules: no database."""

import pytest

from catalog.rules import lead_days_limit, lead_days_problem, price_in_use_problem


@pytest.mark.parametrize(
    ("lead_days", "tenures", "problem"),
    [
        (None, [1, 12], None),
        (27, [1, 12], None),
        (28, [1, 12], "at most 27, not 28"),
        (28, [3, 12], None),
        (83, [3, 12], None),
        (84, [3, 12], "(3 month(s) = 84 days at 28 days a month), so at most 83, not 84"),
        (500, [], None),  # no tenure yet: nothing to be shorter than
    ],
)
def test_lead_days_must_be_shorter_than_the_shortest_tenure(lead_days, tenures, problem):
    found = lead_days_problem(lead_days, tenures)
    if problem is None:
        assert found is None
    else:
        assert found.startswith("must be shorter than the shortest tenure")
        assert problem in found
    assert (found is None) == (lead_days is None or not tenures or lead_days <= lead_days_limit(tenures))


@pytest.mark.parametrize(
    ("months", "renewing", "problem"),
    [
        (12, 0, None),
        (12, 1, "1 active order renews at 12 months: change their tenure first"),
        (12, 3, "3 active orders renew at 12 months: change their tenure first"),
    ],
)
def test_a_price_that_orders_renew_at_stays(months, renewing, problem):
    assert price_in_use_problem(months, renewing) == problem
