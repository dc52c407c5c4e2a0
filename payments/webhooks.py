"""Stripe webhooks: verified, each event processed once, settling attempts,
recording refunds and disputes (payments.refunds) and keeping saved cards
as the processor knows them (payments.card_updates)."""

import logging

from django.conf import settings
from django.db import IntegrityError, transaction

from core.errors import DomainError
from payments.card_updates import card_processor_update, event_time
from payments.charges import attempt_of_intent
from payments.gateway import stripe_client
from payments.models import AttemptState, PaymentAttempt, WebhookEvent
from payments.refunds import MOVEMENT_EVENTS, movements_record, processor_movements
from payments.settlement import settle
from tenants.scope import Actor

log = logging.getLogger("payments.webhooks")


class BadWebhook(DomainError):
    code = "bad_webhook"


def webhook_handle(*, payload: bytes, signature: str) -> str:
    """Verify and process one delivery; returns what was done, in words.

    Raises BadWebhook (the endpoint answers 400, nothing changes) for a bad
    signature, a stale timestamp or a body that is not the one signed.
    """
    stripe = stripe_client()
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise BadWebhook("webhooks are not configured (STRIPE_WEBHOOK_SECRET)")
    try:
        event = stripe.Webhook.construct_event(payload, signature, settings.STRIPE_WEBHOOK_SECRET)
    except (ValueError, stripe.error.SignatureVerificationError) as exc:
        raise BadWebhook(f"rejected: {exc}") from exc
    movements = None
    if event.type in MOVEMENT_EVENTS:
        if WebhookEvent.objects.filter(event_id=event.id).exists():
            return f"event {event.id} already processed"
        # What a refund or dispute moved is read before the transaction: it
        # may ask Stripe (a charge's refunds), and no lock is held across a
        # network call. Stripe not answering is a 500: Stripe delivers again.
        movements = processor_movements(event)
        _adopt_lost_intents(movements)
    with transaction.atomic():
        # The event row and its effects commit together: a second delivery,
        # even at the same moment, waits on this row's unique key and then
        # finds the event done.
        try:
            with transaction.atomic():
                WebhookEvent.objects.create(event_id=event.id, type=event.type)
        except IntegrityError:
            return f"event {event.id} already processed"
        if movements is not None:
            return movements_record(movements, event_id=event.id, actor=Actor.system("stripe webhook"))
        return _process(event)


def _adopt_lost_intents(movements) -> None:
    """A refund or dispute of a sweep charge whose reply was lost (its intent
    id not stored yet, reconciliation not there yet): the intent names its
    attempt in its metadata, so it is matched now rather than the movement
    going unrecorded. Before the transaction: it asks Stripe (a failure is a
    500, and Stripe delivers the event again)."""
    stripe = stripe_client()
    for intent_id in sorted({m.intent_id for m in movements if m.intent_id}):
        if PaymentAttempt.objects.filter(stripe_payment_intent_id=intent_id).exists():
            continue
        try:
            intent = stripe.PaymentIntent.retrieve(intent_id)
        except stripe.InvalidRequestError:
            continue  # Stripe does not know it: not a payment of this portal
        attempt_of_intent(intent)


# A saved card changed at Stripe: by its holder, or by the network's updater.
CARD_EVENTS = frozenset({"payment_method.updated", "payment_method.automatically_updated"})


def _process(event) -> str:
    if event.type in CARD_EVENTS:
        return _card_changed(event)
    if event.type not in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        return f"ignored {event.type}"
    intent = event.data.object
    attempt = attempt_of_intent(intent)
    if attempt is None:
        return f"no attempt for {intent.id or 'an intent without an id'}"
    actor = Actor.system("stripe webhook")
    if event.type == "payment_intent.succeeded":
        moved = settle(attempt, AttemptState.SUCCEEDED, actor=actor)
    else:
        error = ((intent.to_dict().get("last_payment_error") or {}).get("message")) or "payment failed"
        moved = settle(attempt, AttemptState.FAILED, actor=actor, error=error)
    return f"attempt {attempt.pk} {'settled' if moved else 'was already settled'}"


def _card_changed(event) -> str:
    body = event.to_dict()
    method = (body.get("data") or {}).get("object") or {}
    card = method.get("card") or {}
    return card_processor_update(
        payment_method_id=method.get("id") or "",
        brand=card.get("brand") or "",
        last4=card.get("last4") or "",
        exp_month=card.get("exp_month"),
        exp_year=card.get("exp_year"),
        at=event_time(body.get("created")),
        actor=Actor.system("stripe webhook"),
    )
