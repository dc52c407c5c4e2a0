"""Paying at most once per (login, key): a manual renewal and a card top-up,
for the API (its ``Idempotency-Key``) and the customer panel (its one-time
form token). Each face renders its own answers: ``render`` the success,
``refused`` a refusal (a DomainError) as (status, body)."""

import datetime
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from core.errors import DomainError
from invoices.models import Invoice
from once.idempotency import idempotent
from once.selectors import chosen_periods
from orders.models import Order
from orders.selectors import periods_of
from payments.models import PaymentAttempt
from payments.services import top_up_by_card
from renewals.manual import renewal_pay, renewal_quote

Refused = Callable[[DomainError], tuple[int, Any]]


def renewal_pay_once(
    *,
    actor,
    key: str,
    fingerprint: str,
    items: list[tuple[int, int | None]],
    align_day: int | None = None,
    pins: dict[int, datetime.date] | None = None,
    csrs: dict[int, str] | None = None,
    payment: str = "balance",
    auto_renew_next: frozenset[int] | set[int] = frozenset(),
    expected_total: Decimal | None = None,
    render: Callable[[Invoice], Any],
    refused: Refused,
):
    """Quote and pay a manual renewal at most once per (login, Idempotency-Key)
    (once/idempotency.py explains why a retry never charges twice): the API's
    POST /api/renewals/ and the panel's pay form (its one-time form token is
    the key). Returns an ``Answer``: 201 and ``render(invoice)``, a refusal
    as ``refused(error)`` renders it, or the stored answer of the first
    request with this key; raises DomainError when the key is reused for
    another request or its first request is still running.

    ``items``: (order id, months), months None for the plan's default
    period (the panel's form leaves out a period it did not show). ``pins``
    (order id -> paid-thru date from the quote), when given, refuse
    the payment if an order was renewed since it was quoted; without them the
    paid-thru dates priced now are pinned, and kept with the key for retries.
    ``expected_total``, when given, refuses the payment (``price_changed``)
    unless the total now is the one the client showed. ``csrs``: the PEM
    CSR of each order whose category asks for one (renewals.csr).
    """

    def work(claim):
        pinned = pins
        if claim.pins is not None:  # a retry: pay the cycles the first attempt priced, or nothing
            pinned = {int(order_id): datetime.date.fromisoformat(day) for order_id, day in claim.pins.items()}
        chosen = _with_default_periods(actor, items)
        quote = renewal_quote(actor=actor, items=chosen, align_day=align_day, pins=pinned, csrs=csrs)
        claim.pin({str(order_id): day.isoformat() for order_id, day in quote.pins.items()})
        invoice = renewal_pay(
            actor=actor,
            quote=quote,
            payment=payment,
            auto_renew_next=set(auto_renew_next),
            expected_total=expected_total,
        )
        return 201, render(invoice)

    # The card path commits its payment attempt before calling Stripe, so only
    # a balance payment can share one transaction with its stored answer.
    return idempotent(
        user=actor.user, key=key, fingerprint=fingerprint, work=work, refused=refused, atomic=payment == "balance"
    )


def top_up_once(
    *,
    actor,
    key: str,
    fingerprint: str,
    amount: Decimal,
    render: Callable[[PaymentAttempt], Any],
    refused: Refused,
):
    """Top up the balance from the default card at most once per (login,
    Idempotency-Key): the API's POST /api/balance/top-up/ and the panel's
    top-up form (its one-time form token is the key). Returns an ``Answer``
    (201 and ``render(attempt)``, a refusal as ``refused(error)`` renders
    it, or the first request's stored answer);
    raises DomainError when the key is reused for another request or its
    first request is still running.

    A charge cannot share a transaction with the stored answer, so the card
    attempt's key is made from the claim: a retry that takes the claim over
    (after a 500 or a killed worker) finds the first attempt and resumes or
    returns it (payments.services.top_up_by_card ``once``), never charging
    again.
    """

    def work(claim):
        attempt = top_up_by_card(
            actor=actor, account_id=actor.customer_id, amount=amount, once=f"idem{claim.record_id}"
        )
        return 201, render(attempt)

    return idempotent(user=actor.user, key=key, fingerprint=fingerprint, work=work, refused=refused)


def _with_default_periods(actor, items: list[tuple[int, int | None]]) -> list[tuple[int, int]]:
    unset = [order_id for order_id, months in items if months is None]
    if not unset:
        return items
    plan_of = dict(Order.objects.visible_to(actor).filter(pk__in=unset).values_list("pk", "plan_id"))
    return chosen_periods(items, plan_of=plan_of, periods=periods_of(set(plan_of.values())))
