"""Saved cards and card charges (Stripe).

A charge follows ARCHITECTURE.md's card path: the attempt row and its
idempotency key are committed first; the PaymentIntent is created
unconfirmed and its id stored; then it is confirmed. No database transaction
is open during a network call. An answer that never came makes the attempt
``unknown``: reconciliation retrieves the PaymentIntent by its stored id and
settles it; nothing charges again.
"""

import datetime
import uuid
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from balances.models import Account, EntryKind
from balances.services import ledger_post
from core.dates import business_today
from core.errors import DomainError, NotFound
from core.locks import lock_account
from core.money import format_amount
from payments.gateway import stripe_client
from payments.models import AttemptPurpose, AttemptState, Card, PaymentAttempt
from tenants.scope import Actor


class CardDeclined(DomainError):
    code = "card_declined"


def _account(actor: Actor, account_id: int) -> Account:
    account = Account.objects.visible_to(actor).select_related("customer").filter(pk=account_id).first()
    if account is None:
        raise NotFound(f"account {account_id} not found")
    return account


def stripe_customer_ensure(account: Account) -> str:
    """The account's Stripe Customer id, created at Stripe on first use."""
    if account.stripe_customer_id:
        return account.stripe_customer_id
    stripe = stripe_client()
    customer = stripe.Customer.create(
        email=account.customer.email or None,
        name=account.customer.name,
        metadata={"portal_customer": account.customer.ref},
    )
    updated = Account.objects.filter(pk=account.pk, stripe_customer_id="").update(stripe_customer_id=customer.id)
    if not updated:  # another request created one first: use theirs
        account.refresh_from_db(fields=["stripe_customer_id"])
        return account.stripe_customer_id
    account.stripe_customer_id = customer.id
    return customer.id


def card_add(*, actor: Actor, account_id: int, payment_method_id: str) -> Card:
    """Save a card the browser tokenised with Stripe.js (a PaymentMethod id):
    attach it to the account's Stripe Customer and keep brand, last 4 and
    expiry. A card Stripe refuses gets its decline text, and nothing is saved."""
    account = _account(actor, account_id)
    stripe = stripe_client()
    customer_id = stripe_customer_ensure(account)
    try:
        method = stripe.PaymentMethod.retrieve(payment_method_id)
        if method.customer != customer_id:  # a SetupIntent confirmed in the browser attached it already
            method = stripe.PaymentMethod.attach(payment_method_id, customer=customer_id)
    except stripe.error.CardError as exc:
        raise CardDeclined(f"the card was refused: {exc.user_message or exc}") from exc
    except stripe.error.InvalidRequestError as exc:
        raise DomainError(f"the card could not be saved: {exc.user_message or exc}", code="invalid_card") from exc
    card_data = method.card
    with transaction.atomic():
        lock_account(account.pk)
        first = not Card.objects.filter(account=account).exists()
        card = Card.objects.create(
            account=account,
            stripe_payment_method_id=method.id,
            brand=card_data.brand or "",
            last4=card_data.last4 or "",
            exp_month=card_data.exp_month,
            exp_year=card_data.exp_year,
            is_default=first,
        )
        if first:
            Account.objects.filter(pk=account.pk).update(stripe_payment_method_id=method.id)
        audit_record(actor=actor, action="card.add", target=account.customer, after=str(card))
    return card


def card_set_default(*, actor: Actor, card_id: int) -> Card:
    card = Card.objects.visible_to(actor).filter(pk=card_id).first()
    if card is None:
        raise NotFound(f"card {card_id} not found")
    with transaction.atomic():
        lock_account(card.account_id)
        Card.objects.filter(account_id=card.account_id, is_default=True).exclude(pk=card.pk).update(is_default=False)
        Card.objects.filter(pk=card.pk).update(is_default=True)
        Account.objects.filter(pk=card.account_id).update(stripe_payment_method_id=card.stripe_payment_method_id)
        audit_record(actor=actor, action="card.default", target=card.account.customer, after=str(card))
    card.is_default = True
    return card


def card_remove(*, actor: Actor, card_id: int) -> None:
    """Detach the card at Stripe and forget it; another card becomes default."""
    card = Card.objects.visible_to(actor).select_related("account__customer").filter(pk=card_id).first()
    if card is None:
        raise NotFound(f"card {card_id} not found")
    stripe = stripe_client()
    try:
        stripe.PaymentMethod.detach(card.stripe_payment_method_id)
    except stripe.error.InvalidRequestError:
        pass  # already gone at Stripe: forgetting it here is what is left to do
    with transaction.atomic():
        lock_account(card.account_id)
        card.delete()
        successor = Card.objects.filter(account_id=card.account_id).order_by("pk").first()
        if card.is_default and successor:
            Card.objects.filter(pk=successor.pk).update(is_default=True)
        Account.objects.filter(pk=card.account_id).update(
            stripe_payment_method_id=successor.stripe_payment_method_id if successor and card.is_default else ""
        )
        audit_record(actor=actor, action="card.remove", target=card.account.customer, before=str(card))


def default_card(account_id: int) -> Card | None:
    return Card.objects.filter(account_id=account_id, is_default=True).first()


def top_up_by_card(
    *, actor: Actor, account_id: int, amount: Decimal, currency: str | None = None, on: datetime.date | None = None
) -> PaymentAttempt:
    """Charge the default card and, once the charge succeeded, credit the
    balance. Returns the settled attempt (succeeded, failed or unknown)."""
    account = _account(actor, account_id)
    amount = Decimal(amount)
    if amount <= 0 or amount.as_tuple().exponent < -2:
        raise DomainError("a top-up is a positive amount with at most two decimal places")
    if currency and currency != account.currency:
        raise DomainError(f"this account pays in {account.currency}, not {currency}", code="currency_mismatch")
    card = default_card(account.pk)
    if card is None:
        raise DomainError("save a card first", code="no_usable_card")
    stripe_client()  # refuses before any record is written when cards are not configured
    attempt = PaymentAttempt.objects.create(
        account=account,
        card=card,
        purpose=AttemptPurpose.TOP_UP,
        amount=amount,
        currency=account.currency,
        idempotency_key=f"topup-{account.pk}-{uuid.uuid4().hex}",
        business_date=on or business_today(),
    )
    charge(attempt, actor=actor)
    attempt.refresh_from_db()
    return attempt


def charge(attempt: PaymentAttempt, *, actor: Actor) -> None:
    """Make the attempt's one charge and settle it. Safe to call again: an
    attempt that has a PaymentIntent is never charged anew, only looked up."""
    if attempt.state != AttemptState.PENDING:
        return
    stripe = stripe_client()
    try:
        if not attempt.stripe_payment_intent_id:
            intent = stripe.PaymentIntent.create(
                amount=int(attempt.amount * 100),
                currency=attempt.currency.lower(),
                customer=attempt.account.stripe_customer_id,
                payment_method=attempt.card.stripe_payment_method_id,
                metadata={"attempt": str(attempt.pk), "purpose": attempt.purpose},
                idempotency_key=attempt.idempotency_key,
            )
            # Stored before confirming: from here on the charge can always be
            # found again, whatever the network does.
            PaymentAttempt.objects.filter(pk=attempt.pk).update(stripe_payment_intent_id=intent.id)
            attempt.stripe_payment_intent_id = intent.id
        intent = stripe.PaymentIntent.confirm(
            attempt.stripe_payment_intent_id, idempotency_key=f"{attempt.idempotency_key}-confirm"
        )
    except stripe.error.CardError as exc:
        _settle(attempt, AttemptState.FAILED, actor=actor, error=exc.user_message or str(exc))
        return
    except (stripe.error.APIConnectionError, stripe.error.APIError, stripe.error.RateLimitError) as exc:
        # No answer, or not one we can trust: the outcome is unknown.
        _mark_unknown(attempt, str(exc))
        return
    _settle_from_intent(attempt, intent, actor=actor)


def _mark_unknown(attempt: PaymentAttempt, error: str) -> None:
    PaymentAttempt.objects.filter(pk=attempt.pk, state=AttemptState.PENDING).update(
        state=AttemptState.UNKNOWN, error=error[:2000]
    )


def _settle_from_intent(attempt: PaymentAttempt, intent, *, actor: Actor) -> None:
    if intent.status == "succeeded":
        _settle(attempt, AttemptState.SUCCEEDED, actor=actor)
    elif intent.status in ("requires_action", "requires_payment_method", "canceled"):
        error = "the card needs your authentication: pay in the browser" if intent.status == "requires_action" else ""
        last = (intent.to_dict().get("last_payment_error") or {}).get("message", "")
        _settle(attempt, AttemptState.FAILED, actor=actor, error=error or last or intent.status)
    else:  # processing, requires_confirmation: not settled yet
        _mark_unknown(attempt, f"payment intent is {intent.status}")


@transaction.atomic
def _settle(attempt: PaymentAttempt, state: str, *, actor: Actor, error: str = "") -> bool:
    """Move the attempt from pending or unknown to its final state, once: the
    conditional UPDATE decides, so a webhook and a reconciliation racing each
    other post the credit once."""
    moved = PaymentAttempt.objects.filter(pk=attempt.pk, state__in=[AttemptState.PENDING, AttemptState.UNKNOWN]).update(
        state=state, error=error[:2000], settled_at=timezone.now()
    )
    if not moved:
        return False
    if attempt.purpose == AttemptPurpose.RENEWAL:
        from renewals.card_path import settle_renewal

        settle_renewal(attempt, state, actor=actor, error=error)
        return True
    if state == AttemptState.SUCCEEDED and attempt.purpose == AttemptPurpose.TOP_UP:
        ledger_post(
            actor=actor,
            account_id=attempt.account_id,
            amount=attempt.amount,
            kind=EntryKind.CARD_TOP_UP,
            memo=f"Card top-up {format_amount(attempt.amount)} {attempt.currency}",
            reference=attempt.stripe_payment_intent_id,
            business_date=attempt.business_date,
        )
    return True


def payment_attempts_reconcile(*, actor: Actor | None = None) -> dict[str, int]:
    """Settle every unknown attempt from Stripe's record of its PaymentIntent
    (retrieved by the stored id; never charged again)."""
    actor = actor or Actor.system("reconciliation")
    stripe = stripe_client()
    counts = {"settled": 0, "still_unknown": 0}
    for attempt in PaymentAttempt.objects.filter(state=AttemptState.UNKNOWN).select_related("account", "card"):
        if not attempt.stripe_payment_intent_id:
            # The create call itself got no answer: nothing can have been
            # confirmed, so the attempt failed (the key stays spent).
            _settle(attempt, AttemptState.FAILED, actor=actor, error="no payment intent was created")
            counts["settled"] += 1
            continue
        try:
            intent = stripe.PaymentIntent.retrieve(attempt.stripe_payment_intent_id)
        except stripe.error.StripeError:
            counts["still_unknown"] += 1
            continue
        if intent.status == "requires_confirmation":
            # Created but never confirmed: confirm it now, under the same id.
            PaymentAttempt.objects.filter(pk=attempt.pk).update(state=AttemptState.PENDING)
            attempt.state = AttemptState.PENDING
            charge(attempt, actor=actor)
        else:
            _settle_from_intent(attempt, intent, actor=actor)
        attempt.refresh_from_db()
        counts["settled" if attempt.state != AttemptState.UNKNOWN else "still_unknown"] += 1
    return counts


def card_setup_start(*, actor: Actor, account_id: int) -> str:
    """A SetupIntent for the add-card page: Stripe.js confirms it in the
    browser with the card typed there (the number never reaches us). Returns
    its client secret."""
    account = _account(actor, account_id)
    stripe = stripe_client()
    intent = stripe.SetupIntent.create(customer=stripe_customer_ensure(account), usage="off_session")
    return intent.client_secret


def card_setup_finish(*, actor: Actor, account_id: int, setup_intent_id: str) -> Card:
    """Save the card of a SetupIntent the browser confirmed: only one of this
    account's Stripe Customer, and only once it succeeded."""
    account = _account(actor, account_id)
    stripe = stripe_client()
    try:
        intent = stripe.SetupIntent.retrieve(setup_intent_id)
    except stripe.error.InvalidRequestError as exc:
        raise DomainError("that card setup is unknown; try again", code="invalid_card") from exc
    if intent.customer != account.stripe_customer_id or intent.status != "succeeded" or not intent.payment_method:
        raise DomainError("the card was not confirmed; try again", code="invalid_card")
    method = intent.payment_method if isinstance(intent.payment_method, str) else intent.payment_method.id
    existing = Card.objects.filter(account=account, stripe_payment_method_id=method).first()
    return existing or card_add(actor=actor, account_id=account.pk, payment_method_id=method)
