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

from balances.models import EntryKind
from balances.services import Posting, ledger_post_many
from core.errors import DomainError
from core.money import format_amount
from core.queue import enqueue_on_commit
from core.sql import db_now, ids_in, ids_take, insert_rows, update_from_arrays
from invoices.models import Invoice, InvoiceLine, RenewalSource
from invoices.services import invoice_numbers_take
from notifications.services import NoticeSpec, notices_create
from orders.locks import lock_orders
from orders.models import AfterRenewal, Order
from orders.services import order_field_audit_many, order_status_audit_many
from orders.states import OrderStatus, check_transition
from renewals.events import renewed_events
from renewals.models import EventOrigin, LifecycleEvent, Transition
from renewals.open import open_renewals_close
from renewals.rules import Period, clears_individual_price
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
    # Whether the order carried an individual price when the line was priced
    # (the sweep knows it from its plan): if not, this renewal cannot end
    # one, and the writer need not read it again. Unknown: read.
    individual: bool = True


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
    total: Decimal = Decimal("0.00")
    # The card charged for it first, as its notice names it ("visa •••• 4242"), and how much.
    card: str = ""
    card_amount: Decimal = Decimal("0.00")
    # An admin's extension at no charge (renewals.operator): its lines are
    # marked complimentary and its customer is told the orders were extended
    # (renewal_completed), not charged.
    complimentary: bool = False

    def __post_init__(self):
        self.total = sum((line.period.amount for line in self.lines), Decimal("0.00"))

    @classmethod
    def of_account(cls, account, lines: list[Line]) -> "Charge":
        """A charge to a (locked) balances.Account model, its balance as read."""
        customer = account.customer
        return cls(
            customer_id=account.pk,
            customer_ref=customer.ref,
            customer_email=customer.email,
            reseller_id=customer.reseller_id,
            currency=account.currency,
            balance_before=account.balance,
            lines=lines,
        )


@dataclass
class Written:
    """Renewals written but not yet invoiced and posted: see ``finish``."""

    charges: list[Charge]
    invoice_ids: dict[int, int]  # customer_id -> invoice id
    on: datetime.date
    actor: Actor
    payment_memo: str
    source: str = RenewalSource.AUTOMATIC


def write_renewals(
    charges: list[Charge], *, on: datetime.date, source: str, actor: Actor, payment_memo: str = "Renewal"
) -> Written:
    """Invoice lines (their invoices' rows come in ``finish``), extensions
    and notices, for accounts the caller has locked and found able to pay.
    Raises RenewalConflict (the caller's transaction rolls back) if an
    order's paid-thru date is no longer the one priced. The caller must call
    ``finish`` last, in the same transaction."""
    written = Written(charges, {}, on, actor, payment_memo, source)
    if not charges:
        return written
    # The invoices' ids now, their rows in ``finish`` with their numbers:
    # each invoice is written once, and the lines, the batch attempt and the
    # notices refer to it meanwhile (foreign keys are checked at commit).
    written.invoice_ids = dict(zip([c.customer_id for c in charges], ids_take(Invoice, len(charges)), strict=True))
    lines = [(c, line) for c in charges for line in c.lines]
    # The renewal records: unique per order and cycle (period_start).
    insert_rows(
        InvoiceLine,
        ("invoice_id", "order_id", "description", "period_start", "period_end", "months", "amount", "complimentary"),
        [
            (written.invoice_ids[c.customer_id], line.order_id, line.description, line.period.start,
             line.period.end, line.period.months, line.period.amount, c.complimentary)
            for c, line in lines
        ],
    )  # fmt: skip
    # SPEC "Manual renewal": the period a customer renews for becomes the
    # order's tenure. The sweep buys the tenure anyway, and a complimentary
    # extension counts whole months given (maybe 0), not a period bought.
    _extend_orders(
        [line for _c, line in lines],
        on,
        actor,
        tenure=source == RenewalSource.MANUAL,
        paid={line.order_id for c, line in lines if not c.complimentary},
    )
    # Each renewed cycle's open renewal closes with its invoice, in this
    # transaction: however the order was renewed (sweep, by hand, extension).
    open_renewals_close(
        [(line.order_id, c.customer_id, line.period, written.invoice_ids[c.customer_id], c.complimentary)
         for c, line in lines],
        on,
    )  # fmt: skip
    _notices(charges, written.invoice_ids, on)
    return written


def finish(written: Written) -> dict[int, int]:
    """Write the invoices with their numbers (gapless per reseller, under the
    sequence rows' locks) and post their ledger debits (balances.services.ledger_post_many:
    the balances, the entries and their audit records). Call it last in the
    transaction: the locks are held only from here to the commit."""
    charges, on, actor = written.charges, written.on, written.actor
    if not charges:
        return {}
    counts = Counter(c.reseller_id for c in charges)
    taken = {r: iter(numbers) for r, numbers in invoice_numbers_take(counts=counts, on=on).items()}
    numbers = {c.customer_id: next(taken[c.reseller_id]) for c in sorted(charges, key=lambda c: c.customer_id)}
    now = db_now()
    insert_rows(
        Invoice,
        ("id", "number", "reseller_id", "sequence", "customer_id", "currency", "total", "business_date", "issued_at",
         "payment_reference", "source", "created_by"),
        [
            (written.invoice_ids[c.customer_id], numbers[c.customer_id][1], c.reseller_id, numbers[c.customer_id][0],
             c.customer_id, c.currency, c.total, on, now, "balance", written.source, actor.label)
            for c in charges
        ],
    )  # fmt: skip
    # Through the ledger's door: each debit, its balance move and its audit
    # record (reason: the invoice; the address of a manual renewal's request).
    # A complimentary extension moves no money: the operator's service
    # audits it, with its reason.
    ledger_post_many(
        actor=actor,
        postings=[
            Posting(
                account_id=c.customer_id,
                amount=-c.total,
                kind=EntryKind.RENEWAL,
                currency=c.currency,
                memo=f"{written.payment_memo}: {len(c.lines)} order(s)",
                reference=numbers[c.customer_id][1],
                reason=numbers[c.customer_id][1],
            )
            for c in charges
            if c.total
        ],
        business_date=on,
        locked=True,  # the callers lock the accounts before they plan (write_renewals)
    )
    # The resellers' webhooks (order.renewed, order.restored, invoice.created), in this transaction.
    renewed_events(
        charges,
        written.invoice_ids,
        {customer_id: number for customer_id, (_seq, number) in numbers.items()},
        on=on,
        source=written.source,
    )
    return written.invoice_ids


# Why an individual price ended, by whether the renewal was for another period.
PRICE_CLEARED = {
    False: "renewed at its individual price; after_renewal is plan: the next renewal is at the plan's price",
    True: "renewed for another period than the one its individual price was for",
}


def _extend_orders(
    lines: list[Line], on: datetime.date, actor: Actor, *, tenure: bool = False, paid: set[int] = frozenset()
) -> None:
    """Extend the lines' orders; with ``tenure``, each order's tenure becomes
    its line's months (audited where it changes). A ``paid`` order's
    individual price ends where renewals.rules.clears_individual_price says
    (audited)."""
    for line in lines:
        if line.status != OrderStatus.ACTIVE:
            check_transition(line.status, OrderStatus.ACTIVE, label=f"order {line.order_ref}")
    rows = [
        (line.order_id, line.period.end, line.period.anchor_day, line.period.start, line.period.months)
        for line in lines
    ]
    set_sql = f"expires_on = v.new_end, anchor_day = v.anchor, status = '{OrderStatus.ACTIVE}'"
    tenures = {}
    if tenure:
        set_sql += ", tenure_months = v.months"
        # Under the orders' locks: an operator's change of tenure (which locks
        # the order alone) cannot slip between this read and the UPDATE.
        tenures = dict(lock_orders([line.order_id for line in lines], "tenure_months"))
    # A renewal for another period ends an individual price whenever it was
    # set, so read it for every line then; at the tenure, only a line priced
    # at one can end it (a price set after the plan is left for the next).
    prices = _individual_prices(
        [line.order_id for line in lines if line.order_id in paid and (tenure or line.individual)]
    )
    cleared = {
        line.order_id: prices[line.order_id][0]
        for line in lines
        if line.order_id in prices
        and clears_individual_price(
            individual_price=prices[line.order_id][0],
            back_to_plan=prices[line.order_id][1] == AfterRenewal.PLAN,
            tenure_months=prices[line.order_id][2],
            months=line.period.months,
            base_amount=line.period.base_amount,
            for_period=tenure,
        )
    }
    columns = (("id", "bigint"), ("new_end", "date"), ("anchor", "integer"), ("old_end", "date"), ("months", "integer"))
    if cleared:
        # In the extension's own statement: the next renewal is at the plan's price.
        set_sql += ", individual_price = CASE WHEN v.clear = 1 THEN NULL ELSE orders_order.individual_price END"
        columns += (("clear", "integer"),)
        rows = [(*row, int(row[0] in cleared)) for row in rows]
    # Conditional on the paid-thru date priced: the claim that makes a second
    # extension of the same cycle impossible even if a lock were missed.
    updated = update_from_arrays(
        "orders_order",
        columns,
        rows,
        set_sql=set_sql,
        where_sql="orders_order.id = v.id AND orders_order.expires_on = v.old_end",
        key="id",
    )
    if updated != len(rows):
        raise RenewalConflict("an order was renewed meanwhile; nothing was charged. Review and try again.")
    order_field_audit_many(
        actor=actor,
        business_date=on,
        field="tenure_months",
        moves=[
            (line.order_id, line.order_ref, tenures[line.order_id], line.period.months)
            for line in lines
            if tenure and tenures[line.order_id] != line.period.months
        ],
        reason="renewed by hand for another period",
    )
    for other_period, reason in PRICE_CLEARED.items():
        order_field_audit_many(
            actor=actor,
            business_date=on,
            field="individual_price",
            moves=[
                (line.order_id, line.order_ref, format_amount(cleared[line.order_id], line.period.currency), None)
                for line in lines
                if line.order_id in cleared and (line.period.months != prices[line.order_id][2]) == other_period
            ],
            reason=reason,
        )
    restored = [line for line in lines if line.status == OrderStatus.SUSPENDED]
    order_status_audit_many(
        actor=actor,
        business_date=on,
        moves=[(line.order_id, line.order_ref, OrderStatus.SUSPENDED, OrderStatus.ACTIVE) for line in restored],
        reason="renewed during grace",
    )
    LifecycleEvent.objects.bulk_create(
        [
            LifecycleEvent(
                order_id=line.order_id,
                transition=Transition.UNSUSPEND,
                origin=EventOrigin.RENEWAL,
                cycle=line.period.start,
                business_date=on,
            )
            for line in restored
        ]
    )
    if restored:
        enqueue_on_commit("renewals.tasks.run_provisioning_hooks")


def _individual_prices(order_ids: list[int]) -> dict[int, tuple]:
    """{order id: (individual price, after_renewal, tenure)} of those orders
    that carry an individual price, under their row locks (taken after the
    accounts', in id order): a reseller's change cannot slip between this
    read and the extension. One statement; few rows."""
    if not order_ids:
        return {}
    rows = (
        Order.objects.select_for_update()
        .filter(ids_in("pk", order_ids), individual_price__isnull=False)
        .order_by("pk")
        .values_list("pk", "individual_price", "after_renewal", "tenure_months")
    )
    return {pk: (price, after, months) for pk, price, after, months in rows}


def _notices(charges: list[Charge], invoice_ids: dict[int, int], on: datetime.date) -> None:
    specs = []
    cycle = on.isoformat()
    for c in charges:
        invoice_id = invoice_ids[c.customer_id]
        # The invoice is the record the notices render their table from.
        data = {"invoice_id": invoice_id}
        if c.card:
            data.update(card=c.card, card_amount=str(c.card_amount))
        refs = [line.order_ref for line in c.lines]  # shared: serialised once (notices_create)
        for kind in ("renewal_completed",) if c.complimentary else ("renewal_succeeded", "renewal_completed"):
            specs.append(
                NoticeSpec(
                    kind=kind,
                    customer_id=c.customer_id,
                    reseller_id=c.reseller_id,
                    recipient=c.customer_email,
                    subject_key=f"invoice:{invoice_id}",
                    cycle=cycle,
                    business_date=on,
                    data=data,
                    order_refs=refs,
                )
            )
    # Keyed by the new invoice: every key is new.
    notices_create(specs, new=True)
