"""Settling a card payment: its attempt moves to its final state once, then
what the payment was for is settled by the handler registered for the
attempt's purpose. Payments knows how a card is charged, not what it pays
for: the top-up's handler is here (a credit to the balance), renewals
registers its own when the app is ready (renewals.apps, renewals.settlement).

A purpose without a handler is a deployment error, and it must not lose the
money: ``settle`` refuses before anything moves, so the attempt stays open
(``unknown`` after a charge: payments.charges) with the charge recorded, a
fault tells the operators at each reconciliation pass, and the first pass
after the handler is back settles it from Stripe's record. ``manage.py
check`` (run by every deploy) names the purpose without one (payments.E001).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from balances.models import EntryKind
from balances.services import ledger_post
from core.money import format_money
from payments.models import OPEN, AttemptPurpose, AttemptState, PaymentAttempt
from tenants.scope import Actor


class SettleHandler(Protocol):
    """Settle what ``attempt`` paid for, inside the transaction that moved it
    to ``state`` (succeeded or failed). ``internal``: it failed for the
    portal's fault (the processor refused our key or account), not the
    customer's card."""

    def __call__(self, attempt: PaymentAttempt, state: str, *, actor: Actor, error: str, internal: bool) -> None: ...


@dataclass(frozen=True)
class Handler:
    settle: SettleHandler
    # The refs of the orders a payment is for (named in a fault's subject).
    orders: Callable[[PaymentAttempt], Sequence[str]]


# Purpose -> handler; filled by the apps' ready() (payments.apps, renewals.apps).
HANDLERS: dict[str, Handler] = {}


class NoSettleHandler(ImproperlyConfigured):
    """A card payment whose purpose no app settles: left open, never dropped."""


def register(purpose: str, settle: SettleHandler, *, orders: Callable[[PaymentAttempt], Sequence[str]] | None = None):
    """Settle the attempts of ``purpose`` with ``settle`` (once per purpose)."""
    purpose = str(purpose)
    existing = HANDLERS.get(purpose)
    if existing is not None and existing.settle is not settle:
        raise ImproperlyConfigured(f"card payments of purpose '{purpose}' have a settle handler already")
    HANDLERS[purpose] = Handler(settle, orders or (lambda attempt: ()))


def handler_for(purpose: str) -> Handler:
    handler = HANDLERS.get(purpose)
    if handler is None:
        raise NoSettleHandler(
            f"no settle handler is registered for card payments of purpose '{purpose}': the attempt stays open,"
            " its charge recorded, until the app that pays for it registers one (payments.settlement.register)"
        )
    return handler


@transaction.atomic
def settle(attempt: PaymentAttempt, state: str, *, actor: Actor, error: str = "", internal: bool = False) -> bool:
    """Move the attempt from pending or unknown to ``state``, once, and settle
    what it paid for: the conditional UPDATE decides, so a webhook and a
    reconciliation racing each other settle it once. Returns whether this
    call moved it. Raises NoSettleHandler, with nothing changed, for a
    purpose no app settles."""
    handler = handler_for(attempt.purpose)
    moved = PaymentAttempt.objects.filter(pk=attempt.pk, state__in=OPEN).update(
        state=state, error=error[:2000], settled_at=timezone.now()
    )
    if not moved:
        return False
    handler.settle(attempt, state, actor=actor, error=error, internal=internal)
    return True


def orders_of(attempt: PaymentAttempt) -> tuple[str, ...]:
    """The refs of the orders the payment is for, as its purpose's handler
    tells (none without one: a fault about the attempt must still be told)."""
    handler = HANDLERS.get(attempt.purpose)
    return tuple(handler.orders(attempt)) if handler else ()


def top_up_settle(attempt: PaymentAttempt, state: str, *, actor: Actor, error: str, internal: bool) -> None:
    """A card top-up that succeeded is credited to the balance; one that
    failed held nothing."""
    if state != AttemptState.SUCCEEDED:
        return
    ledger_post(
        actor=actor,
        account_id=attempt.account_id,
        amount=attempt.amount,
        kind=EntryKind.CARD_TOP_UP,
        memo=f"Card top-up {format_money(attempt.amount, attempt.currency)}",
        reference=attempt.stripe_payment_intent_id,
        business_date=attempt.business_date,
    )


def handlers_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every purpose a card payment can have is settled by some app."""
    return [
        checks.Error(
            f"card payments of purpose '{purpose}' have no settle handler: they would be charged and never settled",
            hint="register one in the paying app's AppConfig.ready() (payments.settlement.register)",
            id="payments.E001",
        )
        for purpose in AttemptPurpose.values
        if purpose not in HANDLERS
    ]
