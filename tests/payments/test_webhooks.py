"""The Stripe webhook endpoint: signature on the raw body, each event once."""

import hashlib
import hmac
import json
import time
from decimal import Decimal

import pytest
from django.urls import reverse

from balances.models import LedgerEntry
from payments.models import AttemptState, PaymentAttempt, WebhookEvent
from payments.services import card_add, top_up_by_card
from payments.webhooks import webhook_handle
from tenants.scope import Actor, ActorKind
from tests.factories import CustomerFactory
from tests.helpers import run_concurrently
from tests.payments.test_cards import GOOD, tokenise

SECRET = "whsec_test_portal"


def sign(payload: bytes, *, at: int | None = None, secret: str = SECRET) -> str:
    timestamp = at if at is not None else int(time.time())
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def event(intent_id: str, kind: str = "payment_intent.succeeded", event_id: str = "evt_1") -> bytes:
    body = {
        "id": event_id,
        "object": "event",
        "type": kind,
        "data": {"object": {"id": intent_id, "object": "payment_intent", "status": "succeeded"}},
    }
    return json.dumps(body).encode()


@pytest.fixture
def unknown_top_up(stripe_on, settings, reply_lost):
    """A 30.00 top-up charged at Stripe whose reply was lost: unknown here."""
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    customer = CustomerFactory()
    actor = Actor(kind=ActorKind.CUSTOMER, label="c", customer_id=customer.pk)
    card_add(actor=actor, account_id=customer.pk, payment_method_id=tokenise(GOOD))
    with reply_lost():
        attempt = top_up_by_card(actor=actor, account_id=customer.pk, amount=Decimal("30.00"))
    assert attempt.state == AttemptState.UNKNOWN
    return attempt


def post(client, payload: bytes, signature: str):
    return client.post(
        reverse("stripe-webhook"), data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )


@pytest.mark.django_db
def test_a_signed_event_settles_the_attempt_once(client, unknown_top_up, assert_invariants):
    payload = event(unknown_top_up.stripe_payment_intent_id)
    first = post(client, payload, sign(payload))
    assert (first.status_code, first.content.decode()) == (200, f"attempt {unknown_top_up.pk} settled")
    replay = post(client, payload, sign(payload))  # Stripe retries a delivery
    assert (replay.status_code, replay.content.decode()) == (200, "event evt_1 already processed")
    unknown_top_up.refresh_from_db()
    assert unknown_top_up.state == AttemptState.SUCCEEDED
    assert LedgerEntry.objects.filter(kind="card_top_up").count() == 1
    assert_invariants()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda p: (p, sign(p, secret="whsec_wrong")), id="bad signature"),
        pytest.param(lambda p: (p, sign(p, at=int(time.time()) - 3600)), id="stale timestamp"),
        pytest.param(lambda p: (p.replace(b"evt_1", b"evt_2"), sign(p)), id="changed body"),
        pytest.param(lambda p: (p, ""), id="no signature"),
    ],
)
def test_a_bad_delivery_is_refused_and_changes_nothing(client, unknown_top_up, tamper):
    payload, signature = tamper(event(unknown_top_up.stripe_payment_intent_id))
    response = post(client, payload, signature)
    assert response.status_code == 400
    unknown_top_up.refresh_from_db()
    assert unknown_top_up.state == AttemptState.UNKNOWN
    assert not WebhookEvent.objects.exists()
    assert not LedgerEntry.objects.filter(kind="card_top_up").exists()


@pytest.mark.django_db
def test_a_failed_payment_event_fails_the_attempt(client, unknown_top_up):
    payload = event(unknown_top_up.stripe_payment_intent_id, kind="payment_intent.payment_failed")
    assert post(client, payload, sign(payload)).status_code == 200
    unknown_top_up.refresh_from_db()
    assert unknown_top_up.state == AttemptState.FAILED
    assert not LedgerEntry.objects.filter(kind="card_top_up").exists()


@pytest.mark.django_db
def test_the_webhook_answers_only_post(client):
    assert client.get(reverse("stripe-webhook")).status_code == 405


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_event_delivered_twice_at_once_is_processed_once(unknown_top_up, assert_invariants):
    payload = event(unknown_top_up.stripe_payment_intent_id)
    signature = sign(payload)
    results = run_concurrently([lambda: webhook_handle(payload=payload, signature=signature)] * 2)
    assert sorted(results) == [f"attempt {unknown_top_up.pk} settled", "event evt_1 already processed"]
    assert PaymentAttempt.objects.get().state == AttemptState.SUCCEEDED
    assert LedgerEntry.objects.filter(kind="card_top_up").count() == 1
    assert_invariants()
