import datetime
from decimal import Decimal

import pytest

from audit.models import AuditEvent
from balances.models import Account, LedgerEntry
from core.errors import DomainError, InsufficientFunds, NotFound
from invoices.models import Invoice, InvoiceLine
from notifications.models import Notice
from orders.models import Order
from renewals.manual import renewal_pay, renewal_quote
from renewals.models import LifecycleEvent
from renewals.writer import RenewalConflict
from tenants.models import Customer
from tenants.scope import Actor, ActorKind
from tests.renewals.conftest import order

D = datetime.date
ON = D(2026, 12, 3)


def jane(ref="c1"):
    return Actor(kind=ActorKind.CUSTOMER, label="jane", customer_id=Customer.objects.get(ref=ref).pk)


def oid(ref):
    return Order.objects.get(ref=ref).pk


@pytest.fixture
def three(portal):
    portal(
        [order("o1", D(2026, 12, 10)), order("o2", D(2026, 12, 20)), order("o3", D(2027, 1, 5), status="active")],
        customers=[
            {"ref": "c1", "name": "Jane", "email": "jane@example.test", "reseller": "r1", "balance": "200.00"},
            {"ref": "c2", "name": "Other", "reseller": "r1", "balance": "200.00"},
        ],
    )


def test_batch_with_three_periods_one_payment_one_invoice(three, assert_invariants):
    quote = renewal_quote(actor=jane(), items=[(oid("o1"), 1), (oid("o2"), 3), (oid("o3"), 12)])
    assert [(line.order_ref, line.period.end, line.amount) for line in quote.lines] == [
        ("o1", D(2027, 1, 10), Decimal("10.00")),
        ("o2", D(2027, 3, 20), Decimal("27.00")),
        ("o3", D(2028, 1, 5), Decimal("100.00")),
    ]
    assert quote.total == Decimal("137.00")
    invoice = renewal_pay(actor=jane(), quote=quote, on=ON)
    assert (invoice.total, invoice.lines.count(), invoice.business_date) == (Decimal("137.00"), 3, ON)
    assert Account.objects.get(customer__ref="c1").balance == Decimal("63.00")
    assert LedgerEntry.objects.filter(kind="renewal").count() == 1
    assert Order.objects.get(ref="o2").expires_on == D(2027, 3, 20)
    assert set(Invoice.objects.values_list("source", flat=True)) == {"manual"}
    kinds = set(Notice.objects.values_list("kind", flat=True))
    assert kinds == {"renewal_succeeded", "renewal_completed"}  # the same notices as automatic ones
    assert_invariants()


def test_alignment_to_one_renewal_day_prices_the_extra_days(three, assert_invariants):
    quote = renewal_quote(actor=jane(), items=[(oid("o1"), 1), (oid("o2"), 1)], align_day=25)
    lines = {line.order_ref: line for line in quote.lines}
    # o1: Dec 10 + 1 month = Jan 10, aligned to Jan 25: 15 extra days of January at 10.00/31.
    assert (lines["o1"].period.end, lines["o1"].period.extra_days) == (D(2027, 1, 25), 15)
    assert lines["o1"].amount == Decimal("14.84")  # 10.00 + 4.8387 -> 14.84
    assert (lines["o2"].period.end, lines["o2"].period.extra_days, lines["o2"].amount) == (
        D(2027, 1, 25),
        5,
        Decimal("11.61"),
    )
    renewal_pay(actor=jane(), quote=quote, on=ON)
    assert set(Order.objects.filter(ref__in=["o1", "o2"]).values_list("anchor_day", flat=True)) == {25}
    assert_invariants()


def test_a_foreign_order_hidden_in_the_batch_rejects_the_whole_batch(three):
    theirs = Order.objects.create(
        ref="x1", customer=Customer.objects.get(ref="c2"), plan=Order.objects.get(ref="o1").plan,
        tenure_months=1, expires_on=D(2026, 12, 10), anchor_day=10,
    )  # fmt: skip
    with pytest.raises(NotFound, match=f"order {theirs.pk} not found"):
        renewal_quote(actor=jane(), items=[(oid("o1"), 1), (theirs.pk, 1)])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": "terminated"}, "is terminated and cannot be renewed"),
        ({"locked": True}, "is locked by the provider"),
        ({"pending_action": True}, "has a pending action"),
    ],
)
def test_refusals_say_which_order_and_why(three, changes, message):
    Order.objects.filter(ref="o1").update(**changes)
    with pytest.raises(DomainError, match=f"order o1 {message}"):
        renewal_quote(actor=jane(), items=[(oid("o1"), 1)])


def test_endless_orders_and_unknown_periods_are_refused(portal):
    portal([order("life", None, plan="life"), order("o1", D(2026, 12, 10))])
    with pytest.raises(DomainError, match="order life never expires"):
        renewal_quote(actor=jane(), items=[(oid("life"), 1)])
    with pytest.raises(DomainError, match=r"order o1: Basic has no 6-month period \(choose 1, 3, 12\)"):
        renewal_quote(actor=jane(), items=[(oid("o1"), 6)])


def test_renewing_a_suspended_order_restores_it(portal, assert_invariants):
    portal([order("o1", D(2026, 11, 28), status="suspended")])
    renewal_pay(actor=jane(), quote=renewal_quote(actor=jane(), items=[(oid("o1"), 1)]), on=ON)
    o1 = Order.objects.get(ref="o1")
    assert (o1.status, o1.expires_on) == ("active", D(2026, 12, 28))  # extends from the paid-thru date
    assert LifecycleEvent.objects.get().transition == "unsuspend"
    assert AuditEvent.objects.filter(action="order.status", before="suspended", after="active").exists()
    assert_invariants()


def test_a_quote_renewed_meanwhile_is_refused_with_nothing_charged(three, run, assert_invariants):
    quote = renewal_quote(actor=jane(), items=[(oid("o1"), 1)])
    run(ON)  # the sweep renews o1 (its window opened on Dec 3)
    before = Account.objects.get(customer__ref="c1").balance
    with pytest.raises(RenewalConflict, match="order o1 was renewed meanwhile"):
        renewal_pay(actor=jane(), quote=quote, on=ON)
    assert Account.objects.get(customer__ref="c1").balance == before
    assert InvoiceLine.objects.count() == 1
    assert_invariants()


def test_a_price_change_after_the_quote_is_refused(three):
    from catalog.models import PlanPrice

    quote = renewal_quote(actor=jane(), items=[(oid("o1"), 1)])
    PlanPrice.objects.filter(months=1).update(amount=Decimal("12.00"))
    with pytest.raises(DomainError, match=r"the price changed since the quote \(10.00 -> 12.00 USD\)"):
        renewal_pay(actor=jane(), quote=quote, on=ON)
    assert not Invoice.objects.exists()


def test_insufficient_funds_changes_nothing(portal):
    portal([order("o1", D(2026, 12, 10))], customers=[{"ref": "c1", "name": "J", "reseller": "r1", "balance": "9.99"}])
    with pytest.raises(InsufficientFunds, match="costs 10.00 USD but only 9.99 is available"):
        renewal_pay(actor=jane(), quote=renewal_quote(actor=jane(), items=[(oid("o1"), 1)]), on=ON)
    assert Order.objects.get().expires_on == D(2026, 12, 10)
    assert not LedgerEntry.objects.filter(kind="renewal").exists()


def test_switch_auto_renew_on_from_the_next_cycle(portal, run):
    portal([order("o1", D(2026, 12, 10), auto_renew=False)])
    quote = renewal_quote(actor=jane(), items=[(oid("o1"), 1)])
    renewal_pay(actor=jane(), quote=quote, auto_renew_next={oid("o1")}, on=ON)
    o1 = Order.objects.get()
    assert (o1.auto_renew, o1.expires_on) == (True, D(2027, 1, 10))
    assert run(D(2027, 1, 3))["batches"][0]["outcome"] == "renewed"  # the next cycle renews automatically


def test_card_payment_says_it_is_not_configured(three):
    quote = renewal_quote(actor=jane(), items=[(oid("o1"), 1)])
    with pytest.raises(DomainError, match="card payments are not configured"):
        renewal_pay(actor=jane(), quote=quote, payment="card", on=ON)
