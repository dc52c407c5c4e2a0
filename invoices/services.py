"""Issuing invoices with gapless numbers per reseller."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from core.errors import DomainError
from core.locks import lock_invoice_sequence
from invoices.models import Invoice, InvoiceLine
from invoices.rules import invoice_number
from orders.models import Order
from tenants.models import Customer


@dataclass(frozen=True)
class LineSpec:
    order: Order
    period_start: datetime.date
    period_end: datetime.date
    months: int
    amount: Decimal
    description: str = ""


@transaction.atomic
def invoice_issue(
    *,
    customer: Customer,
    currency: str,
    lines: list[LineSpec],
    business_date: datetime.date,
    payment_reference: str = "",
) -> Invoice:
    """Issue a paid invoice: the next number of the customer's reseller, one
    line per order, total = sum of lines. Call it inside the payment's
    transaction: a rollback returns the number."""
    if not lines:
        raise DomainError("an invoice needs at least one line")
    foreign = [line.order.ref for line in lines if line.order.customer_id != customer.pk]
    if foreign:
        raise DomainError(f"orders {', '.join(foreign)} do not belong to {customer.ref}")
    sequence = lock_invoice_sequence(customer.reseller_id)
    sequence.last_number += 1
    sequence.save(update_fields=["last_number"])
    reseller = customer.reseller
    invoice = Invoice.objects.create(
        number=invoice_number(reseller.invoice_prefix, business_date, sequence.last_number),
        reseller=reseller,
        sequence=sequence.last_number,
        customer=customer,
        currency=currency,
        total=sum((line.amount for line in lines), Decimal("0.00")),
        business_date=business_date,
        payment_reference=payment_reference,
    )
    InvoiceLine.objects.bulk_create(
        [
            InvoiceLine(
                invoice=invoice,
                order=line.order,
                description=line.description or f"{line.order.plan.name}, {line.months} month(s)",
                period_start=line.period_start,
                period_end=line.period_end,
                months=line.months,
                amount=line.amount,
            )
            for line in lines
        ]
    )
    return invoice
