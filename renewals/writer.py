"""Writing paid renewals, set-based: the one place where orders are extended.

Both the nightly sweep (hundreds of accounts per call) and a manual renewal
(one account) come here, inside their own transaction and after locking the
accounts, so an extension, its invoice line, its ledger entry and its notices
are always written together. A fixed number of statements per call, whatever
the number of accounts and orders.
"""

import datetime
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from audit.models import AuditEvent
from balances.models import EntryKind, LedgerEntry
from core.errors import DomainError
from core.money import format_amount
from core.sql import update_from_values
from invoices.models import Invoice, InvoiceLine
from invoices.services import invoice_numbers_take
from notifications.services import NoticeSpec, notices_create
from orders.states import OrderStatus, check_transition
from renewals.models import LifecycleEvent, Renewal, Transition
from renewals.rules import Period
from tenants.scope import Actor


class RenewalConflict(DomainError):
    code = "renewed_meanwhile"


@dataclass
class Line:
    order_id: int
    order_ref: str
    description: str
    status: str
    period: Period


@dataclass
class Charge:
    """One account's paid renewal: one invoice, one ledger debit."""

    customer_id: int
    customer_ref: str
    customer_email: str
    reseller_id: int
    currency: str
    balance_before: Decimal
    lines: list[Line]

    @property
    def total(self) -> Decimal:
        return sum((line.period.amount for line in self.lines), Decimal("0.00"))


def _allocate_numbers(charges: list[Charge], on: datetime.date) -> dict[int, tuple[int, str]]:
    """{customer_id: (sequence, number)}, numbered in customer order per reseller."""
    counts = Counter(c.reseller_id for c in charges)
    taken = {r: iter(numbers) for r, numbers in invoice_numbers_take(counts=counts, on=on).items()}
    return {c.customer_id: next(taken[c.reseller_id]) for c in sorted(charges, key=lambda c: c.customer_id)}


def write_renewals(
    charges: list[Charge], *, on: datetime.date, source: str, actor: Actor, payment_memo: str = "Renewal"
) -> dict[int, Invoice]:
    """Invoice, debit and extend, for accounts the caller has locked and found
    able to pay. Raises RenewalConflict (the caller's transaction rolls back)
    if an order's paid-thru date is no longer the one priced."""
    if not charges:
        return {}
    numbers = _allocate_numbers(charges, on)
    invoices = Invoice.objects.bulk_create(
        [
            Invoice(
                number=numbers[c.customer_id][1],
                reseller_id=c.reseller_id,
                sequence=numbers[c.customer_id][0],
                customer_id=c.customer_id,
                currency=c.currency,
                total=c.total,
                business_date=on,
                payment_reference="balance",
            )
            for c in charges
        ]
    )
    by_customer = {inv.customer_id: inv for inv in invoices}
    line_rows = [
        InvoiceLine(
            invoice=by_customer[c.customer_id],
            order_id=line.order_id,
            description=line.description,
            period_start=line.period.start,
            period_end=line.period.end,
            months=line.period.months,
            amount=line.period.amount,
        )
        for c in charges
        for line in c.lines
    ]
    InvoiceLine.objects.bulk_create(line_rows, batch_size=500)
    lines = [line for c in charges for line in c.lines]
    Renewal.objects.bulk_create(
        [
            Renewal(
                order_id=line.order_id,
                cycle=line.period.start,
                period_end=line.period.end,
                months=line.period.months,
                amount=line.period.amount,
                source=source,
                invoice_line=row,
                business_date=on,
                created_by=actor.label,
            )
            for line, row in zip(lines, line_rows, strict=True)
        ],
        batch_size=500,
    )
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                account_id=c.customer_id,
                kind=EntryKind.RENEWAL,
                amount=-c.total,
                balance_after=c.balance_before - c.total,
                business_date=on,
                reference=by_customer[c.customer_id].number,
                memo=f"{payment_memo}: {len(c.lines)} order(s)",
                actor_label=actor.label,
                created_by_id=actor.user.pk if actor.user else None,
            )
            for c in charges
            if c.total
        ],
        batch_size=500,
    )
    update_from_values(
        "balances_account",
        ("id", "delta"),
        [(c.customer_id, -c.total) for c in charges if c.total],
        set_sql="balance = balances_account.balance + v.delta",
        where_sql="balances_account.customer_id = v.id",
    )
    _extend_orders(lines, on)
    _records(charges, by_customer, on, actor)
    return by_customer


def _extend_orders(lines: list[Line], on: datetime.date) -> None:
    for line in lines:
        if line.status != OrderStatus.ACTIVE:
            check_transition(line.status, OrderStatus.ACTIVE, label=f"order {line.order_ref}")
    rows = [(line.order_id, line.period.end, line.period.anchor_day, line.period.start) for line in lines]
    # Conditional on the paid-thru date priced: the claim that makes a second
    # extension of the same cycle impossible even if a lock were missed.
    updated = update_from_values(
        "orders_order",
        ("id", "new_end", "anchor", "old_end"),
        rows,
        set_sql=f"expires_on = v.new_end, anchor_day = v.anchor, status = '{OrderStatus.ACTIVE}'",
        where_sql="orders_order.id = v.id AND orders_order.expires_on = v.old_end",
    )
    if updated != len(rows):
        raise RenewalConflict("an order was renewed meanwhile; nothing was charged. Review and try again.")
    restored = [line for line in lines if line.status == OrderStatus.SUSPENDED]
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                business_date=on,
                actor_label="renewal",
                action="order.status",
                target_type="orders.order",
                target_id=line.order_id,
                target_ref=line.order_ref,
                before=OrderStatus.SUSPENDED,
                after=OrderStatus.ACTIVE,
                reason="renewed during grace",
            )
            for line in restored
        ]
    )
    LifecycleEvent.objects.bulk_create(
        [
            LifecycleEvent(
                order_id=line.order_id, transition=Transition.UNSUSPEND, cycle=line.period.start, business_date=on
            )
            for line in restored
        ]
    )
    if restored:
        from renewals.lifecycle import schedule_hooks

        schedule_hooks()


def _records(charges: list[Charge], invoices: dict[int, Invoice], on: datetime.date, actor: Actor) -> None:
    user_id = actor.user.pk if actor.user else None
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                business_date=on,
                actor_id=user_id,
                actor_label=actor.label,
                action="ledger.renewal",
                target_type="tenants.customer",
                target_id=c.customer_id,
                target_ref=c.customer_ref,
                before=format_amount(c.balance_before),
                after=format_amount(c.balance_before - c.total),
                reason=invoices[c.customer_id].number,
            )
            for c in charges
        ],
        batch_size=500,
    )
    specs = []
    for c in charges:
        invoice = invoices[c.customer_id]
        refs = [line.order_ref for line in c.lines]
        table = "\n".join(
            f"  {line.order_ref}  {line.description}  {line.period.start} -> {line.period.end}  "
            f"{format_amount(line.period.amount)} {c.currency}"
            for line in c.lines
        )
        for kind, subject, body in (
            (
                "renewal_succeeded",
                f"Renewal paid: invoice {invoice.number}",
                f"We charged {format_amount(c.total)} {c.currency} to your balance for:\n{table}\n",
            ),
            (
                "renewal_completed",
                f"Renewed: {len(refs)} order(s)",
                f"Your orders are renewed for the new period:\n{table}\n",
            ),
        ):
            specs.append(
                NoticeSpec(
                    kind=kind,
                    customer_id=c.customer_id,
                    reseller_id=c.reseller_id,
                    recipient=c.customer_email,
                    subject_key=f"invoice:{invoice.number}",
                    cycle=on.isoformat(),
                    business_date=on,
                    subject=subject,
                    body_text=body,
                    order_refs=refs,
                )
            )
    notices_create(specs)
