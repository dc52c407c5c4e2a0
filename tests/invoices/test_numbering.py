import datetime
from decimal import Decimal

import pytest
from django.db import transaction

from invoices.models import Invoice
from invoices.rules import invoice_number
from invoices.services import LineSpec, invoice_issue
from tests.factories import CustomerFactory, OrderFactory, ResellerFactory
from tests.helpers import run_concurrently

D = datetime.date


def test_number_format():
    assert invoice_number("ACME", D(2026, 3, 1), 123) == "ACME-2026-000123"


def issue(order, amount="10.00"):
    return invoice_issue(
        customer=order.customer,
        currency="USD",
        lines=[LineSpec(order, D(2026, 12, 10), D(2027, 1, 10), 1, Decimal(amount))],
        business_date=D(2026, 12, 3),
    )


@pytest.mark.django_db
def test_numbers_are_sequential_per_reseller(assert_invariants):
    acme = ResellerFactory(invoice_prefix="ACME")
    nimbus = ResellerFactory(invoice_prefix="NIM")
    a = OrderFactory(customer=CustomerFactory(reseller=acme))
    n = OrderFactory(customer=CustomerFactory(reseller=nimbus))
    numbers = [issue(a).number, issue(n).number, issue(a).number, issue(a).number, issue(n).number]
    assert numbers == ["ACME-2026-000001", "NIM-2026-000001", "ACME-2026-000002", "ACME-2026-000003", "NIM-2026-000002"]
    assert_invariants()


@pytest.mark.django_db
def test_total_is_the_sum_of_lines(assert_invariants):
    order = OrderFactory()
    other = OrderFactory(customer=order.customer)
    invoice = invoice_issue(
        customer=order.customer,
        currency="USD",
        lines=[
            LineSpec(order, D(2026, 12, 10), D(2027, 1, 10), 1, Decimal("10.00")),
            LineSpec(other, D(2026, 12, 10), D(2027, 12, 10), 12, Decimal("100.00")),
        ],
        business_date=D(2026, 12, 3),
    )
    assert invoice.total == Decimal("110.00")
    assert invoice.lines.count() == 2
    assert_invariants()


@pytest.mark.django_db
def test_a_rolled_back_payment_never_burns_a_number():
    order = OrderFactory()
    assert issue(order).sequence == 1

    def pay_then_fail():
        with transaction.atomic():
            issue(order)
            raise RuntimeError("the payment failed after the invoice was drafted")

    with pytest.raises(RuntimeError):
        pay_then_fail()
    assert issue(order).sequence == 2
    assert list(Invoice.objects.order_by("sequence").values_list("sequence", flat=True)) == [1, 2]


@pytest.mark.django_db
def test_foreign_orders_are_refused():
    order = OrderFactory()
    stranger = OrderFactory()
    with pytest.raises(Exception, match=f"orders {stranger.ref} do not belong to {order.customer.ref}"):
        invoice_issue(
            customer=order.customer,
            currency="USD",
            lines=[LineSpec(stranger, D(2026, 12, 10), D(2027, 1, 10), 1, Decimal("1.00"))],
            business_date=D(2026, 12, 3),
        )
    assert not Invoice.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_invoices_get_distinct_gapless_numbers():
    order = OrderFactory()
    results = run_concurrently([lambda: issue(order).sequence for _ in range(6)])
    assert sorted(results) == [1, 2, 3, 4, 5, 6]
