"""Saved cards (Stripe customers and payment methods) and card top-ups.
The charges themselves, their settlement and reconciliation: payments.charges.
"""

import datetime
import logging
import time
import uuid
from decimal import Decimal

from django.db import transaction

from audit.services import audit_record
from balances.locks import lock_account
from balances.models import Account
from core.dates import business_today
from core.errors import DomainError, NotFound
from core.money import check_exact, format_money
from payments.charges import charge
from payments.gateway import NO_ANSWER, minimum_charge, stripe_client, stripe_configured
from payments.models import AttemptPurpose, Card, PaymentAttempt
from payments.selectors import cards_of
from tenants.scope import Actor

log = logging.getLogger("payments")


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


def top_up_amount_check(amount: Decimal, currency: str) -> Decimal:
    """A card top-up's amount, quantized to ``currency``; DomainError when it
    is not positive, finer than the minor unit or below the processor's
    minimum charge. A top-up is the amount the customer chose, so unlike a
    renewal's card charge it is never raised to the minimum: the customer is
    told the minimum and chooses again."""
    if amount <= 0:
        raise DomainError("a top-up is a positive amount", code="invalid_amount")
    try:
        amount = check_exact(amount, currency)
    except ValueError as exc:
        raise DomainError(f"a top-up of {exc}", code="invalid_amount") from exc
    minimum = minimum_charge(currency)
    if amount < minimum:
        raise DomainError(
            f"the smallest card top-up is {format_money(minimum, currency)} (the card processor's minimum); "
            f"{format_money(amount, currency)} is below it",
            code="below_minimum",
        )
    return amount


def top_up_by_card(
    *,
    actor: Actor,
    account_id: int,
    amount: Decimal,
    currency: str | None = None,
    on: datetime.date | None = None,
    once: str | None = None,
) -> PaymentAttempt:
    """Charge the default card and, once the charge succeeded, credit the
    balance. Returns the settled attempt (succeeded, failed or unknown).

    ``once``: the caller's key for this top-up (once.services.top_up_once
    passes its Idempotency-Key claim). The attempt's key is made from it, so
    a second call with it (a retry after a crash) finds the first attempt and
    resumes or returns it: never a second charge."""
    account = _account(actor, account_id)
    if once is not None:
        earlier = PaymentAttempt.objects.filter(account=account, idempotency_key=f"topup-{account.pk}-{once}").first()
        if earlier is not None:
            charge(earlier, actor=actor)  # only a pending attempt is charged, and under its own Stripe key
            earlier.refresh_from_db()
            return earlier
    if currency and currency != account.currency:
        raise DomainError(f"this account pays in {account.currency}, not {currency}", code="currency_mismatch")
    amount = top_up_amount_check(Decimal(amount), account.currency)
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
        idempotency_key=f"topup-{account.pk}-{once or uuid.uuid4().hex}",
        business_date=on or business_today(),
    )
    charge(attempt, actor=actor)
    attempt.refresh_from_db()
    return attempt


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


# Saved cards known by their Stripe id alone (import_portal migrates them so)
# get their brand, last 4 and expiry from Stripe after the import commits
# (payments.tasks.fill_card_details) or when first shown (cards_shown). After
# Stripe did not answer, pages leave it alone for this long, so that an
# outage of the processor does not make every page wait on its timeout.
CARD_DETAILS_RETRY_SECONDS = 60
_card_details_paused_until = 0.0


def cards_details_fill(*, card_ids: list[int] | None = None) -> int:
    """Fill in brand, last 4 and expiry of the saved cards (those of
    ``card_ids``, or every one) that lack them, from Stripe. Returns how many
    were filled. Outside any transaction only (see ``_card_details_fetch``)."""
    cards = Card.objects.filter(last4="").order_by("pk")
    if card_ids is not None:
        cards = cards.filter(pk__in=list(card_ids))
    return _card_details_fetch(list(cards))


def cards_shown(*, actor: Actor) -> list[Card]:
    """The acting customer's saved cards for a page or the API, those still
    lacking brand and last 4 asked from Stripe first. Never fails the page: a
    card Stripe does not describe now shows as unknown ("card •••• ????")
    until it does. No more queries than ``cards_of`` once every card is known."""
    cards = cards_of(actor=actor)
    missing = [card for card in cards if not card.last4]
    if missing and time.monotonic() >= _card_details_paused_until:
        _card_details_fetch(missing)
    return cards


def _card_details_fetch(cards: list[Card]) -> int:
    """Ask Stripe for each card's PaymentMethod and keep what describes it
    (conditional on the card still lacking it), ``cards`` updated in place.
    One request per card with the gateway's timeouts: never inside a
    transaction, no lock held. Never raises for Stripe: no answer ends the
    pass (and pauses the pages' look-ups); a card Stripe will not describe
    (an unknown id) is logged and left unknown."""
    global _card_details_paused_until
    if not cards or not stripe_configured():
        return 0
    stripe = stripe_client()
    filled = 0
    for done, card in enumerate(cards):
        try:
            method = stripe.PaymentMethod.retrieve(card.stripe_payment_method_id)
        except NO_ANSWER as exc:
            _card_details_paused_until = time.monotonic() + CARD_DETAILS_RETRY_SECONDS
            log.warning("card details: Stripe did not answer (%s); %d card(s) left unknown", exc, len(cards) - done)
            return filled
        except stripe.StripeError as exc:
            log.warning("card details: Stripe does not describe %s: %s", card.stripe_payment_method_id, exc)
            continue
        details = getattr(method, "card", None)
        if details is None or not details.last4:
            log.warning("card details: %s is not a card", card.stripe_payment_method_id)
            continue
        values = {
            "brand": details.brand or "",
            "last4": details.last4,
            "exp_month": details.exp_month,
            "exp_year": details.exp_year,
        }
        filled += Card.objects.filter(pk=card.pk, last4="").update(**values)
        for field, value in values.items():
            setattr(card, field, value)
    return filled
