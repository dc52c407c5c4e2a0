"""Manual renewal (SPEC "Manual renewal"): quote one order or a batch, each
with its own period, optionally aligned to one renewal day; then pay the quote
once: one payment, one invoice, all or nothing.

The quote pins each order's paid-thru date. Paying re-checks the pins under
the account's lock, so a quote whose orders were renewed meanwhile (by the
sweep, another tab) is refused with nothing charged.
"""

import datetime
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from balances.models import Account
from catalog.models import PlanPrice, product_label
from core.dates import business_today
from core.errors import DomainError, InsufficientFunds, NotFound
from core.money import format_amount, format_money
from invoices.models import Invoice, InvoiceLine, RenewalSource
from orders.models import Order
from orders.services import order_set_flags
from orders.states import OrderStatus
from payments.charges import charge
from payments.gateway import minimum_charge
from payments.models import AttemptPurpose, AttemptState, PaymentAttempt
from payments.services import default_card
from renewals.claims import claim_line, claim_orders, claimed_orders
from renewals.csr import CsrInfo, csrs_store, order_csr
from renewals.payments import cards_configured
from renewals.rules import Period, raised_to_minimum, renewal_period, renewal_price
from renewals.writer import Charge, Line, RenewalConflict, finish, write_renewals
from tenants.scope import Actor, ActorKind

log = logging.getLogger("renewals.manual")


@dataclass(frozen=True)
class QuoteLine:
    order_id: int
    order_ref: str
    description: str
    status: str
    period: Period
    # The checked CSR of an order whose category asks for one (renewals.csr).
    csr: CsrInfo | None = None

    @property
    def amount(self) -> Decimal:
        return self.period.amount


@dataclass(frozen=True)
class Quote:
    customer_id: int
    currency: str
    align_day: int | None
    lines: tuple[QuoteLine, ...]

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00"))

    @property
    def pins(self) -> dict[int, datetime.date]:
        """Each order's paid-thru date when quoted: post these back to pay."""
        return {line.order_id: line.period.start for line in self.lines}

    @property
    def csrs(self) -> dict[int, str]:
        """Each order's CSR as checked (its PEM), for the orders that need one."""
        return {line.order_id: line.csr.pem for line in self.lines if line.csr}


def renewal_quote(
    *,
    actor: Actor,
    items: list[tuple[int, int]],
    align_day: int | None = None,
    pins: dict[int, datetime.date] | None = None,
    csrs: dict[int, str] | None = None,
) -> Quote:
    """Price renewing ``items`` (order id, months) for the acting user.
    ``csrs``: the PEM certificate signing request of each order whose
    category asks for one (renewals.csr), checked here and kept on its line.

    Refuses the whole batch, with a sentence naming the order, when an order is
    not the actor's (as if it did not exist), terminated, endless, locked, has
    a pending action, is listed twice, or lacks a price for the period; and
    when a pinned paid-thru date no longer holds; and when an order needs a
    CSR and has none (``csr_required``) or a bad one (``csr_*``), or is given
    one it does not take.
    """
    if not items:
        raise DomainError("choose at least one order to renew", code="empty")
    if align_day is not None and not (isinstance(align_day, int) and 1 <= align_day <= 31):
        raise DomainError(f"the renewal day must be a day of the month (1-31), not {align_day!r}")
    ids = [order_id for order_id, _ in items]
    if len(set(ids)) != len(ids):
        raise DomainError("an order is listed twice in the batch", code="duplicate")
    csrs = csrs or {}
    stray = sorted(set(csrs) - set(ids))
    if stray:
        raise DomainError(f"a CSR was given for order {stray[0]}, which is not in this renewal", code="csr_not_needed")
    orders = {
        o.pk: o
        for o in Order.objects.visible_to(actor)
        .filter(pk__in=ids)
        .select_related("plan__category", "customer__account")
    }
    missing = [str(order_id) for order_id in ids if order_id not in orders]
    if missing:
        raise NotFound(f"order {', '.join(missing)} not found", code="not_found")
    customers = {o.customer_id for o in orders.values()}
    if len(customers) != 1:
        raise DomainError("a batch renews the orders of one account; renew each account's orders separately")
    prices = {
        (p.plan_id, p.months): p.amount
        for p in PlanPrice.objects.filter(plan_id__in={o.plan_id for o in orders.values()})
    }
    account = next(iter(orders.values())).customer.account
    claimed = claimed_orders([account.pk])
    lines = []
    for order_id, months in items:
        order = orders[order_id]
        if order.pk in claimed:
            raise DomainError(
                f"order {order.ref}: a card payment for its renewal is in progress; it will be settled shortly",
                code="payment_in_progress",
            )
        _check_renewable(order, account, pins)
        # renewals.rules.renewal_price: its individual price for its tenure, else the plan's.
        plan_prices = {m: amount for (plan_id, m), amount in prices.items() if plan_id == order.plan_id}
        price = renewal_price(plan_prices, months, order.tenure_months, order.individual_price)
        if price is None:
            offered = sorted(m for plan_id, m in prices if plan_id == order.plan_id)
            raise DomainError(
                f"order {order.ref}: {order.plan.name} has no {months}-month period "
                f"(choose {', '.join(str(m) for m in offered)})",
                code="invalid_period",
            )
        period = renewal_period(
            expires_on=order.expires_on,
            anchor_day=order.anchor_day,
            months=months,
            price=price,
            currency=account.currency,
            align_day=align_day,
        )
        csr = order_csr(
            order_id=order.pk,
            order_ref=order.ref,
            needs_csr=order.plan.category.renewal_needs_csr,
            domain=order.domain,
            pem=csrs.get(order.pk),
        )
        lines.append(QuoteLine(order.pk, order.ref, product_label(order.plan.name, months), order.status, period, csr))
    return Quote(customer_id=account.pk, currency=account.currency, align_day=align_day, lines=tuple(lines))


def _check_renewable(order: Order, account: Account, pins: dict | None) -> None:
    if order.status == OrderStatus.TERMINATED:
        raise DomainError(f"order {order.ref} is terminated and cannot be renewed", code="terminated")
    if order.plan.endless or order.expires_on is None:
        raise DomainError(f"order {order.ref} never expires: there is nothing to renew", code="endless")
    if order.locked:
        raise DomainError(f"order {order.ref} is locked by the provider; contact support", code="locked")
    if order.pending_action:
        raise DomainError(
            f"order {order.ref} has a pending action (for example an unpaid checkout); finish it first",
            code="pending_action",
        )
    if order.plan.currency != account.currency:
        raise DomainError(
            f"order {order.ref} is priced in {order.plan.currency} but the account pays in {account.currency}"
        )
    if pins is not None and pins.get(order.pk) != order.expires_on:
        raise RenewalConflict(
            f"order {order.ref} was renewed meanwhile (now paid thru {order.expires_on}); "
            "nothing was charged. Review the new quote."
        )


def renewal_pay(
    *,
    actor: Actor,
    quote: Quote,
    payment: str = "balance",
    auto_renew_next: frozenset[int] | set[int] = frozenset(),
    expected_total: Decimal | None = None,
    on: datetime.date | None = None,
) -> Invoice:
    """Pay a quote in one transaction: the account locked first (as the sweep
    does), the pins and prices checked again, then one debit, one invoice, the
    extensions and the notices. Nothing happens unless everything does.

    ``expected_total``: the total the customer was shown (the pay button's
    amount, the API's ``expected_total``). The payment is refused with
    ``price_changed``, before anything is charged or written, when the quote's
    total under the lock differs from it (SPEC "Manual renewal": the amount on
    the pay button is the amount charged)."""
    on = on or business_today()
    if payment not in ("balance", "card"):
        raise DomainError(f"unknown payment method {payment!r} (balance or card)")
    unknown = set(auto_renew_next) - {line.order_id for line in quote.lines}
    if unknown:
        raise DomainError("auto-renew can be switched on only for orders in this renewal")
    _check_switchable(actor, auto_renew_next)
    if payment == "card":
        if not cards_configured():
            raise DomainError("card payments are not configured on this portal; pay from the balance")
        return _pay_by_card(
            actor=actor, quote=quote, auto_renew_next=auto_renew_next, expected_total=expected_total, on=on
        )
    with transaction.atomic():
        account = Account.objects.select_for_update().select_related("customer").get(pk=quote.customer_id)
        fresh = _requote(actor, quote, expected_total)
        if fresh.total > account.available:
            raise InsufficientFunds(
                f"the renewal costs {format_money(fresh.total, account.currency)} but only "
                f"{format_amount(account.available, account.currency)} is available; top up and try again"
            )
        charge = Charge.of_account(
            account, [Line(q.order_id, q.order_ref, q.description, q.status, q.period) for q in fresh.lines]
        )
        written = write_renewals(
            [charge], on=on, source=RenewalSource.MANUAL, actor=actor, payment_memo="Manual renewal"
        )
        csrs_store([(q.order_id, q.period.start, q.csr) for q in fresh.lines if q.csr], on=on)
        for order_id in sorted(auto_renew_next):
            # From the next cycle on: this cycle is the manual renewal just paid.
            order_set_flags(actor=actor, order_id=order_id, auto_renew=True, reason="switched on while renewing")
        invoice_id = finish(written)[account.pk]
    return Invoice.objects.get(pk=invoice_id)


def _requote(actor: Actor, quote: Quote, expected_total: Decimal | None) -> Quote:
    """The quote again, under the account's lock: its pins must still hold and
    its total must be the one quoted and the one shown (``expected_total``,
    when the caller knows it), else nothing is charged."""
    fresh = renewal_quote(
        actor=actor,
        items=[(line.order_id, line.period.months) for line in quote.lines],
        align_day=quote.align_day,
        pins=quote.pins,
        csrs=quote.csrs,
    )
    for seen in (quote.total if expected_total is None else expected_total, quote.total):
        if fresh.total != seen:
            raise DomainError(
                f"the price changed since the quote ({format_amount(seen, fresh.currency)} -> "
                f"{format_money(fresh.total, fresh.currency)}); nothing was charged. Review the new quote.",
                code="price_changed",
            )
    return fresh


def _check_switchable(actor: Actor, order_ids) -> None:
    """Refuse, before anything is paid, to switch on auto-renew where the
    reseller locked the switch (order_set_flags would refuse it afterwards)."""
    if actor.kind != ActorKind.CUSTOMER or not order_ids:
        return
    locked = Order.objects.visible_to(actor).filter(pk__in=order_ids, auto_renew_locked=True, auto_renew=False)
    ref = locked.values_list("ref", flat=True).first()
    if ref is not None:
        raise DomainError(
            f"order {ref}: your reseller locked the auto-renew switch; renew without switching it on",
            code="auto_renew_locked",
        )


def _pay_by_card(
    *, actor: Actor, quote: Quote, auto_renew_next, expected_total: Decimal | None, on: datetime.date
) -> Invoice:
    """The card path for one manual payment: the attempt and its claim are
    committed first, the charge made with no lock held, the renewal written
    when the charge succeeded (renewals.settlement.settle_renewal)."""
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=quote.customer_id)
        if account.owes:
            # A refund or dispute took it below its credit limit: it renews
            # nothing until it is back (SPEC "Money"), by card neither.
            raise InsufficientFunds(
                f"your account owes {format_money(account.owes, account.currency)} after a refund or a dispute of a "
                "card payment: top up first, then renew"
            )
        fresh = _requote(actor, quote, expected_total)
        card = default_card(account.pk)
        if card is None:
            raise DomainError("save a card first, or pay from the balance", code="no_usable_card")
        attempt = PaymentAttempt.objects.create(
            account=account,
            card=card,
            purpose=AttemptPurpose.RENEWAL,
            # Below the processor's minimum, the minimum: the card top-up is the
            # whole charge, the renewal debits its total, the rest stays on
            # the balance (SPEC "Money").
            amount=raised_to_minimum(fresh.total, minimum_charge(account.currency)),
            currency=account.currency,
            idempotency_key=f"manual-{account.pk}-{uuid.uuid4().hex}",
            business_date=on,
        )
        claim_orders(
            attempt,
            [claim_line(q.order_id, q.order_ref, q.status, q.description, q.period, csr=q.csr) for q in fresh.lines],
        )
    charge(attempt, actor=actor)
    attempt.refresh_from_db()
    if attempt.state == AttemptState.FAILED:
        raise DomainError(f"the card was not charged: {attempt.error}", code="card_declined")
    if attempt.state != AttemptState.SUCCEEDED:
        raise DomainError(
            "the card payment's outcome is not known yet; it will be settled shortly and you will not be charged twice",
            code="payment_unknown",
        )
    first = fresh.lines[0]
    line = (
        InvoiceLine.objects.select_related("invoice")
        .filter(order_id=first.order_id, period_start=first.period.start)
        .first()
    )
    if line is None:
        # Charged, but the renewal could not be written (renewals.settlement
        # settle_renewal): the amount was credited to the balance instead.
        raise DomainError(
            f"the card was charged {format_money(attempt.amount, attempt.currency)}, but the renewal could not be "
            "completed; the amount is on your balance and our operators are told. Renew again from the balance.",
            code="renewal_not_completed",
        )
    for order_id in sorted(auto_renew_next):
        try:
            order_set_flags(actor=actor, order_id=order_id, auto_renew=True, reason="switched on while renewing")
        except DomainError as exc:
            # Paid and renewed already: a switch locked meanwhile must not turn that into an error.
            log.warning("order %s: auto-renew not switched on after a card renewal: %s", order_id, exc)
    return line.invoice
