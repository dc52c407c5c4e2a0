import datetime

import pytest
from django.db import transaction

from invoices.models import Invoice, InvoiceSequence
from invoices.rules import invoice_number
from invoices.services import invoice_numbers_take
from renewals.manual import renewal_pay, renewal_quote
from tests.factories import CustomerFactory, OrderFactory, ResellerFactory
from tests.helpers import run_concurrently

D = datetime.date


def test_number_format():
    assert invoice_number("ACME", D(2026, 3, 1), 123) == "ACME-2026-000123"


@pytest.mark.django_db
def test_numbers_are_sequential_per_reseller():
    acme = ResellerFactory(invoice_prefix="ACME")
    nimbus = ResellerFactory(invoice_prefix="NIM")
    on = D(2026, 12, 3)
    assert invoice_numbers_take(counts={acme.pk: 2, nimbus.pk: 1}, on=on) == {
        acme.pk: [(1, "ACME-2026-000001"), (2, "ACME-2026-000002")],
        nimbus.pk: [(1, "NIM-2026-000001")],
    }
    assert invoice_numbers_take(counts={acme.pk: 1}, on=D(2027, 1, 2)) == {acme.pk: [(3, "ACME-2027-000003")]}


@pytest.mark.django_db
def test_a_rolled_back_payment_never_burns_a_number():
    reseller = ResellerFactory()

    def take_then_fail():
        with transaction.atomic():
            invoice_numbers_take(counts={reseller.pk: 1}, on=D(2026, 12, 3))
            raise RuntimeError("the payment failed after the number was taken")

    with pytest.raises(RuntimeError):
        take_then_fail()
    taken = invoice_numbers_take(counts={reseller.pk: 1}, on=D(2026, 12, 3))[reseller.pk]
    assert [sequence for sequence, _number in taken] == [1]


def renew(order, system):
    from balances.services import ledger_post

    ledger_post(actor=system, account_id=order.customer_id, amount=10, kind="top_up")
    quote = renewal_quote(actor=system, items=[(order.pk, 1)])
    return renewal_pay(actor=system, quote=quote, on=D(2026, 12, 3))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_renewals_get_distinct_gapless_numbers(system, assert_invariants):
    reseller = ResellerFactory(invoice_prefix="ACME")
    orders = [OrderFactory(customer=CustomerFactory(reseller=reseller)) for _ in range(6)]
    results = run_concurrently([lambda o=o: renew(o, system).sequence for o in orders])
    assert sorted(results) == [1, 2, 3, 4, 5, 6]
    assert InvoiceSequence.objects.get(reseller=reseller).last_number == 6
    assert sorted(Invoice.objects.values_list("number", flat=True)) == [f"ACME-2026-00000{n}" for n in range(1, 7)]
    assert_invariants()
