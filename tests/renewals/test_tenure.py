"""SPEC "Manual renewal": the period a customer renews for becomes the
order's tenure; the next auto-renewal buys that period, at its price, with its
window. An operator's complimentary extension does not change it."""

import datetime
from decimal import Decimal

import pytest

from audit.models import AuditEvent
from invoices.models import InvoiceLine
from orders.models import Order
from renewals.manual import renewal_pay, renewal_quote
from renewals.operator import order_extend
from tenants.models import Customer
from tenants.scope import Actor, ActorKind
from tests.payments.test_card_renewals import save_card
from tests.payments.test_cards import GOOD
from tests.renewals.conftest import order

D = datetime.date


def jane() -> Actor:
    return Actor(kind=ActorKind.CUSTOMER, label="jane", customer_id=Customer.objects.get(ref="c1").pk)


def o1() -> Order:
    return Order.objects.get(ref="o1")


def renew_by_hand(months: int, *, payment: str = "balance") -> None:
    quote = renewal_quote(actor=jane(), items=[(o1().pk, months)])
    renewal_pay(actor=jane(), quote=quote, payment=payment, on=D(2026, 12, 1))


@pytest.fixture
def monthly(portal):
    """o1: Basic (1 month 10.00, 12 months 100.00), monthly, auto-renewing,
    paid thru 2026-12-10; c1 has 300.00."""
    portal(
        [order("o1", D(2026, 12, 10), tenure=1)],
        customers=[{"ref": "c1", "name": "Jane", "email": "j@x.test", "reseller": "r1", "balance": "300.00"}],
    )


def test_a_monthly_order_renewed_by_hand_for_12_months_auto_renews_12_months_30_days_before(
    monthly, run, assert_invariants
):
    renew_by_hand(12)
    assert (o1().tenure_months, o1().expires_on) == (12, D(2027, 12, 10))
    event = AuditEvent.objects.get(action="order.tenure_months")
    assert (event.target_ref, event.before, event.after, event.actor_label) == ("o1", 1, 12, "jane")

    # A 12-month order's window opens 30 days before its expiry, not 7: not on the 31st day before...
    assert run(D(2027, 11, 9))["batches"] == []
    # ...but on the 30th, for the 12-month period at the 12-month price.
    report = run(D(2027, 11, 10))
    assert report["batches"] == [
        {"customer": "c1", "outcome": "renewed", "reason": None, "total": "100.00", "orders": ["o1"]}
    ]
    line = InvoiceLine.objects.filter(invoice__source="automatic").get()
    assert (line.months, line.amount, line.period_start, line.period_end) == (
        12,
        Decimal("100.00"),
        D(2027, 12, 10),
        D(2028, 12, 10),
    )
    assert (o1().tenure_months, o1().expires_on) == (12, D(2028, 12, 10))
    assert AuditEvent.objects.filter(action="order.tenure_months").count() == 1  # the sweep changed no tenure
    assert_invariants()


def test_a_renewal_by_hand_for_the_same_period_keeps_the_tenure_and_audits_no_change(monthly):
    renew_by_hand(1)
    assert (o1().tenure_months, o1().expires_on) == (1, D(2027, 1, 10))
    assert not AuditEvent.objects.filter(action="order.tenure_months").exists()


@pytest.mark.django_db
def test_a_manual_card_renewal_sets_the_tenure_too(monthly, stripe_on, assert_invariants):
    save_card(GOOD)
    renew_by_hand(12, payment="card")
    assert (o1().tenure_months, o1().expires_on) == (12, D(2027, 12, 10))
    assert AuditEvent.objects.get(action="order.tenure_months").after == 12
    assert_invariants()


def test_a_complimentary_extension_keeps_the_tenure(monthly, run):
    ops = Actor(kind=ActorKind.PLATFORM, label="ops")
    order_extend(actor=ops, order_id=o1().pk, until=D(2026, 12, 25), reason="outage credit", on=D(2026, 12, 1))
    assert (o1().tenure_months, o1().expires_on) == (1, D(2026, 12, 25))  # 0 whole months given: tenure stays
    assert not AuditEvent.objects.filter(action="order.tenure_months").exists()
    report = run(D(2026, 12, 18))  # still the monthly window: 7 days before
    assert [(b["outcome"], b["total"]) for b in report["batches"]] == [("renewed", "10.00")]
