"""The planner asks the rules once per facts_key: the key must hold every
value facts_for reads, or two orders with different facts would share a
verdict. No database: the catalog is plain values."""

import dataclasses
import datetime
from decimal import Decimal

import pytest

from renewals.facts import AccountRow, Catalog, OrderRow, PlanInfo, facts_for, facts_key
from renewals.sweep.plan import plan_account

D = datetime.date
PRICES = {1: Decimal("10.00"), 12: Decimal("100.00")}
CATALOG = Catalog(
    plans={
        1: PlanInfo("Hosting", False, True, None, True, "USD", PRICES),
        2: PlanInfo("Lifetime", True, True, 14, True, "USD", PRICES),
        3: PlanInfo("SSL", False, False, None, False, "EUR", {12: Decimal("50.00")}),
    },
    forbidden_resellers=frozenset({7}),
)
ORDER = OrderRow(
    id=1, ref="o1", customer_id=10, plan_id=1, tenure_months=1, expires_on=D(2026, 12, 10), anchor_day=10,
    status="active", auto_renew=True, do_not_renew=False, locked=False, stopped=False, pending_action=False,
    payment_source="balance", auto_renew_locked=False,
)  # fmt: skip
ACCOUNT = AccountRow(
    customer_id=10, ref="c1", name="Jane", email="j@x.test", reseller_id=1, allow_auto_renew=True,
    balance=Decimal("100.00"), credit_limit=Decimal("0.00"), currency="USD", auto_renew=True, held=Decimal("0.00"),
)  # fmt: skip
# Another value for each field, of the field's own type.
OTHER = {
    int: lambda v: v + 6 if v is not None else 1,
    bool: lambda v: not v,
    str: lambda v: {"active": "suspended", "USD": "EUR", "balance": "card"}.get(v, v + "x"),
    Decimal: lambda v: v + 1,
    D: lambda v: v + datetime.timedelta(days=20),
}


def changed(row, name):
    value = getattr(row, name)
    if name == "plan_id":
        return dataclasses.replace(row, plan_id=2 if value == 1 else 1)
    if name == "tenure_months":
        return dataclasses.replace(row, tenure_months=12)
    if name == "reseller_id":
        return dataclasses.replace(row, reseller_id=7)
    if value is None:  # the order's own lead days and individual price: set one
        return dataclasses.replace(row, **{name: {"lead_days": 20, "individual_price": Decimal("9.00")}[name]})
    return dataclasses.replace(row, **{name: OTHER[type(value)](value)})


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(OrderRow)])
def test_an_order_field_that_changes_the_facts_changes_the_key(name):
    other = changed(ORDER, name)
    if facts_for(other, ACCOUNT, CATALOG) != facts_for(ORDER, ACCOUNT, CATALOG):
        assert facts_key(other, ACCOUNT) != facts_key(ORDER, ACCOUNT)


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(AccountRow)])
def test_an_account_field_that_changes_the_facts_changes_the_key(name):
    other = changed(ACCOUNT, name)
    if facts_for(ORDER, other, CATALOG) != facts_for(ORDER, ACCOUNT, CATALOG):
        assert facts_key(ORDER, other) != facts_key(ORDER, ACCOUNT)


def test_accounts_sharing_verdicts_plan_as_they_would_alone():
    on = D(2026, 12, 8)
    orders = [
        ORDER,
        dataclasses.replace(ORDER, id=2, ref="o2", do_not_renew=True),
        dataclasses.replace(ORDER, id=3, ref="o3", expires_on=D(2027, 3, 1)),
        dataclasses.replace(ORDER, id=4, ref="o4", plan_id=3, tenure_months=12),
    ]
    accounts = [
        ACCOUNT,
        dataclasses.replace(ACCOUNT, customer_id=11, auto_renew=False),
        dataclasses.replace(ACCOUNT, customer_id=12, reseller_id=7),
        dataclasses.replace(ACCOUNT, customer_id=13, currency="EUR", balance=Decimal("1.00")),
    ]
    verdicts: dict = {}
    for account in accounts:
        mine = [dataclasses.replace(o, customer_id=account.customer_id) for o in orders]
        assert plan_account(account, mine, CATALOG, on, verdicts=verdicts) == plan_account(account, mine, CATALOG, on)
    assert verdicts  # shared, and used
