"""Each rule and its query form agree (SQLite and PostgreSQL).

The rules are plain functions (renewals.rules); the run selects orders with
query conditions built beside them from the same constants
(renewals.facts). A table of orders against a run of days: the rows each
query selects are exactly those for which the rule says so.
"""

import datetime

import pytest

from balances.models import Account
from catalog.models import Category
from orders.models import Order
from renewals.facts import Catalog, account_rows, facts_for, load_catalog, order_rows, terminated_q
from renewals.models import EventOrigin, LifecycleEvent, Transition
from renewals.rules import eligibility, termination_day
from tests.renewals.conftest import order

D = datetime.date
DAY = datetime.timedelta(days=1)

CATEGORIES = [
    {"ref": "none", "name": "No grace", "grace_days": 0},
    {"ref": "week", "name": "A week", "grace_days": 7},
    {"ref": "hosting", "name": "Hosting", "grace_days": 15},
]
PLANS = [
    {"ref": f"p-{c['ref']}", "name": c["name"], "category": c["ref"], "prices": {"1": "10.00", "3": "27.00",
     "4": "36.00", "12": "100.00"}}
    for c in CATEGORIES
] + [
    # A plan's own lead days override the tenure's.
    {"ref": "early", "name": "Early", "category": "hosting", "prices": {"1": "10.00", "12": "100.00"}, "lead_days": 14},
    {"ref": "life", "name": "Lifetime", "category": "hosting", "prices": {"1": "0.00"}, "endless": True},
]  # fmt: skip

# (paid-thru date, suspension dates of its cycle): none, the day after the
# paid-thru date (the nightly run's), later ones (held back by an internal
# error, or an admin's), an earlier one, and one of an older cycle only.
EXPIRES = D(2026, 12, 10)
SUSPENSIONS = [
    (EXPIRES, []),
    (EXPIRES, [EXPIRES + DAY]),
    (EXPIRES, [EXPIRES + 4 * DAY]),
    (EXPIRES, [EXPIRES + DAY, EXPIRES + 9 * DAY]),
    (EXPIRES, [EXPIRES - 3 * DAY]),
    (EXPIRES - 2 * DAY, [EXPIRES - DAY]),
    (EXPIRES + 3 * DAY, []),
]


def latest_suspension(ordered: Order) -> datetime.date | None:
    days = [
        e.business_date
        for e in ordered.lifecycle_events.all()
        if e.transition == Transition.SUSPEND and e.cycle == ordered.expires_on
    ]
    return max(days, default=None)


@pytest.fixture
def suspended_orders(portal):
    rows = [
        order(f"{plan['ref']}-{n}", expires, plan=plan["ref"], status="suspended", auto_renew=False)
        for plan in PLANS[: len(CATEGORIES)]
        for n, (expires, _) in enumerate(SUSPENSIONS)
    ]
    portal(rows, plans=PLANS, categories=CATEGORIES)
    for plan in PLANS[: len(CATEGORIES)]:
        for n, (expires, days) in enumerate(SUSPENSIONS):
            ordered = Order.objects.get(ref=f"{plan['ref']}-{n}")
            for i, day in enumerate(days):
                # One nightly suspension per cycle; the others are an admin's.
                origin = EventOrigin.NIGHTLY if i == 0 else EventOrigin.ADMIN
                LifecycleEvent.objects.create(
                    order=ordered, transition=Transition.SUSPEND, cycle=expires, business_date=day, origin=origin
                )
        # A suspension of an older cycle does not count.
        LifecycleEvent.objects.create(
            order=Order.objects.get(ref=f"{plan['ref']}-0"),
            transition=Transition.SUSPEND,
            cycle=EXPIRES - 30 * DAY,
            business_date=EXPIRES + 5 * DAY,
        )
    orders = Order.objects.select_related("plan__category").prefetch_related("lifecycle_events")
    return {o.ref: termination_day(o.expires_on, o.plan.category.grace_days, latest_suspension(o)) for o in orders}


@pytest.mark.django_db
def test_the_termination_day_and_its_query_agree(suspended_orders):
    graces = dict(Category.objects.values_list("pk", "grace_days"))
    days = sorted(set(suspended_orders.values()))
    assert len(days) > 10  # the table spreads over many days
    for day in [days[0] - DAY, *days, days[-1] + DAY]:
        on_the_day = set(Order.objects.filter(terminated_q(day, graces, exact=True)).values_list("ref", flat=True))
        by_then = set(Order.objects.filter(terminated_q(day, graces, exact=False)).values_list("ref", flat=True))
        assert on_the_day == {ref for ref, terminate_on in suspended_orders.items() if terminate_on == day}, day
        assert by_then == {ref for ref, terminate_on in suspended_orders.items() if terminate_on <= day}, day


@pytest.mark.django_db
def test_no_category_no_termination(portal):
    portal([order("o1", EXPIRES, status="suspended")])
    assert not Order.objects.filter(terminated_q(EXPIRES + 100 * DAY, {}, exact=False)).exists()


@pytest.mark.django_db
def test_the_attempt_window_and_its_queries_agree(portal):
    # Tenures on both sides of the short window's limit, a plan's override,
    # an endless plan; paid-thru dates spread over more than the long window.
    rows = [
        order(f"{plan}-{tenure}-{n}", EXPIRES + n * DAY, plan=plan, tenure=tenure)
        for plan, tenures in (("p-hosting", (1, 3, 4, 12)), ("early", (1, 12)))
        for tenure in tenures
        for n in range(0, 40, 3)
    ]
    rows.append(order("endless", None, plan="life"))
    portal(rows, plans=PLANS, categories=CATEGORIES)
    catalog: Catalog = load_catalog()
    orders = order_rows(Order.objects.all())
    accounts = account_rows(Account.objects.all())

    def verdict(o, day):
        return eligibility(facts_for(o, accounts[o.customer_id], catalog), day)

    for day in [EXPIRES - 40 * DAY + n * DAY for n in range(0, 85)]:
        due = set(Order.objects.filter(catalog.window_q(day)).values_list("ref", flat=True))
        opens = set(Order.objects.filter(catalog.window_opens_q(day)).values_list("ref", flat=True))
        assert due == {o.ref for o in orders if verdict(o, day).due}, day
        assert opens == {o.ref for o in orders if verdict(o, day).window_opens == day}, day
    # The table reaches every lead: 7 (tenure 1 and 3), 30 (4 and 12), the plan's 14.
    assert {(o.expires_on - verdict(o, EXPIRES).window_opens).days for o in orders if o.expires_on} == {7, 14, 30}
