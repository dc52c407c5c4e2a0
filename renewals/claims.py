"""Which orders a card payment for their renewal holds (its claim): from the
moment the payment is recorded until it is settled, no one else renews,
extends, suspends, terminates or restores them (manual renewal, the sweep,
the lifecycle, the operator's actions), since the charge may have succeeded.

Low level: read by every renewal path, it imports none of them.
"""

import datetime
from decimal import Decimal

from core.money import ZERO
from core.sql import ids_in
from payments.models import OPEN, PaymentAttempt
from renewals.csr import CsrInfo
from renewals.models import RenewalPayment
from renewals.rules import Period


def claimed_orders(customer_ids) -> set[int]:
    """Orders of these accounts claimed by a card payment still in flight, in
    one statement (the sweep reads it per batch, under the accounts' locks)."""
    return _claimed(RenewalPayment.objects.filter(ids_in("attempt__account_id", customer_ids)))


def claimed_orders_all() -> set[int]:
    return _claimed(RenewalPayment.objects.all())


def _claimed(payments) -> set[int]:
    claims = payments.filter(attempt__state__in=OPEN).values_list("claim", flat=True)
    return {line["order_id"] for claim in claims for line in claim}


def claim_orders(attempt: PaymentAttempt, lines: list[dict], *, hold: Decimal = ZERO, batch_id=None) -> RenewalPayment:
    """Record what ``attempt`` pays for, in the transaction that created it:
    ``lines`` (claim_line), the balance part ``hold`` (the caller moves the
    account's ``held`` by as much, under its lock), the sweep's batch."""
    return RenewalPayment.objects.create(attempt=attempt, claim=lines, hold=hold, batch_id=batch_id)


def claim_line(
    order_id: int, order_ref: str, status: str, description: str, period: Period, *, csr: CsrInfo | None = None
) -> dict:
    """One claimed order with the period priced, as the payment keeps it, and
    the CSR it is renewed with (stored when the charge settles: claim_csr)."""
    line = {
        "order_id": order_id,
        "order_ref": order_ref,
        "status": status,
        "description": description,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "months": period.months,
        "base": str(period.base_amount),
        "extra_days": period.extra_days,
        "extra": str(period.extra_amount),
        "anchor": period.anchor_day,
        "currency": period.currency,
    }
    if csr is not None:
        line["csr"] = {"pem": csr.pem, "common_name": csr.common_name, "names": list(csr.names)}
    return line


def claim_period(line: dict, currency: str | None = None) -> Period:
    """A claimed order's period again, priced in the payment's ``currency``
    (claims written before lines carried it need it passed)."""
    return Period(
        start=datetime.date.fromisoformat(line["start"]),
        end=datetime.date.fromisoformat(line["end"]),
        months=line["months"],
        base_amount=Decimal(line["base"]),
        extra_days=line["extra_days"],
        extra_amount=Decimal(line["extra"]),
        anchor_day=line["anchor"],
        currency=currency or line["currency"],
    )


def claim_csr(line: dict) -> CsrInfo | None:
    """The CSR a claimed order is renewed with, as checked when it was claimed."""
    csr = line.get("csr")
    return CsrInfo(pem=csr["pem"], common_name=csr["common_name"], names=tuple(csr["names"])) if csr else None


def claimed_refs(attempt: PaymentAttempt) -> tuple[str, ...]:
    """The refs of the orders a renewal payment claims (a fault's subject)."""
    payment = RenewalPayment.objects.filter(attempt_id=attempt.pk).values_list("claim", flat=True).first()
    return tuple(line["order_ref"] for line in payment or ())
