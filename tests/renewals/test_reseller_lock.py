"""SPEC "Auto-renewal": the account's master switch does not apply to an
order whose switch the reseller locked. The sweep, its dry-run, the
reseller's preview, the renewal center and "why won't it renew" all follow
the one rule (renewals.rules.skip_reason)."""

import datetime
from decimal import Decimal

import pytest

from balances.models import Account
from orders.models import Order
from renewals.rules import Reason
from renewals.selectors import order_renewal_outlook, renewal_center, sweep_preview
from tenants.models import Customer, Reseller
from tenants.scope import Actor, ActorKind
from tests.renewals.conftest import order

D = datetime.date
ON = D(2026, 12, 3)
OFF = Reason.ACCOUNT_AUTO_RENEW_OFF.value


@pytest.fixture
def master_off(portal):
    """c1 (balance 100.00, master switch off): o1 locked by the reseller, o2
    not; both monthly, due from 2026-12-03."""
    portal(
        [order("o1", D(2026, 12, 10), auto_renew_locked=True), order("o2", D(2026, 12, 10))],
        customers=[{"ref": "c1", "name": "Jane", "reseller": "r1", "balance": "100.00", "auto_renew": False}],
    )
    return {o.ref: o for o in Order.objects.all()}


def customer_actor():
    return Actor(kind=ActorKind.CUSTOMER, label="c1", customer_id=Customer.objects.get(ref="c1").pk)


def reseller_actor():
    reseller = Reseller.objects.get(ref="r1")
    return Actor(kind=ActorKind.RESELLER, label="r1", reseller_id=reseller.pk, reseller_path=reseller.path)


def test_the_run_renews_the_locked_order_and_skips_the_other(master_off, run, assert_invariants):
    outcomes = {"o1": ("renewed", ""), "o2": ("skipped", OFF)}
    dry = run(ON, dry_run=True)
    assert {o["order"]: (o["outcome"], o["reason"] or "") for o in dry["orders"]} == outcomes
    assert Order.objects.get(ref="o1").expires_on == D(2026, 12, 10)  # the dry-run wrote nothing

    report = run(ON)
    assert {o["order"]: (o["outcome"], o["reason"] or "") for o in report["orders"]} == outcomes
    assert [(b["outcome"], b["total"], b["orders"]) for b in report["batches"]] == [("renewed", "10.00", ["o1"])]
    assert Order.objects.get(ref="o1").expires_on == D(2027, 1, 10)
    assert Order.objects.get(ref="o2").expires_on == D(2026, 12, 10)
    assert Account.objects.get(customer__ref="c1").balance == Decimal("90.00")
    assert_invariants()


def test_the_resellers_preview_renews_the_locked_order(master_off):
    (line,) = sweep_preview(actor=reseller_actor(), on=ON).lines()
    assert [item.order.ref for item, _product in line.batch] == ["o1"]
    assert [(item.order.ref, item.reason) for item, _product, _what in line.skipped] == [("o2", OFF)]


def test_why_wont_it_renew_and_the_renewal_center_follow(master_off):
    assert order_renewal_outlook(actor=customer_actor(), order_id=master_off["o1"].pk, on=ON).reason is None
    assert order_renewal_outlook(actor=customer_actor(), order_id=master_off["o2"].pk, on=ON).reason == OFF
    assert [row.order.ref for row in renewal_center(actor=customer_actor(), tab="auto", on=ON)] == ["o1"]
    assert [(row.order.ref, row.reason) for row in renewal_center(actor=customer_actor(), tab="manual", on=ON)] == [
        ("o2", OFF)
    ]


def test_a_locked_order_switched_off_by_the_reseller_stays_off(master_off, run):
    """The lock keeps the order's own intent: it overrides the account's
    master switch only, not the order's switch the reseller set."""
    Order.objects.filter(ref="o1").update(auto_renew=False)
    reasons = {o["order"]: o["reason"] for o in run(ON)["orders"]}
    assert reasons == {"o1": Reason.ORDER_AUTO_RENEW_OFF.value, "o2": OFF}
