"""Cards kept as Stripe knows them: ``payment_method.updated`` and
``payment_method.automatically_updated`` webhooks (payments.card_updates)."""

import datetime
import json

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from payments.models import Card, WebhookEvent
from tests.factories import CustomerFactory, member
from tests.payments.test_webhooks import SECRET, post, sign

CREATED = 1_800_000_000  # 2027-01-15 08:00 UTC


@pytest.fixture
def configured(settings):
    """Webhooks verified with the test secret; no call reaches Stripe (a card
    event carries all it says)."""
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    settings.STRIPE_SECRET_KEY = "sk_test_portal"


@pytest.fixture
def blocked_card(db):
    """A default card that expired, blocked by a hard decline for its cycle."""
    customer = CustomerFactory(email="owner@example.test")
    return Card.objects.create(
        account_id=customer.pk,
        stripe_payment_method_id="pm_old",
        brand="visa",
        last4="4242",
        exp_month=1,
        exp_year=2027,
        is_default=True,
        retry_blocked_until=datetime.date(2027, 3, 10),
        blocked_code="expired_card",
    )


def card_event(
    *,
    kind: str = "payment_method.automatically_updated",
    event_id: str = "evt_card_1",
    created: int = CREATED,
    pm: str = "pm_old",
    last4: str = "1881",
    exp: tuple[int, int] = (1, 2030),
    brand: str = "visa",
) -> bytes:
    body = {
        "id": event_id,
        "object": "event",
        "type": kind,
        "created": created,
        "data": {
            "object": {
                "id": pm,
                "object": "payment_method",
                "type": "card",
                "card": {"brand": brand, "last4": last4, "exp_month": exp[0], "exp_year": exp[1]},
            }
        },
    }
    return json.dumps(body).encode()


@pytest.mark.django_db
def test_an_automatic_update_renews_the_card_lifts_its_block_and_is_processed_once(client, configured, blocked_card):
    payload = card_event()
    first = post(client, payload, sign(payload))
    assert (first.status_code, first.content.decode()) == (
        200,
        f"card {blocked_card.pk} updated and its decline block lifted",
    )
    blocked_card.refresh_from_db()
    assert (blocked_card.last4, blocked_card.exp_month, blocked_card.exp_year) == ("1881", 1, 2030)
    assert (blocked_card.retry_blocked_until, blocked_card.blocked_code) == (None, "")
    assert blocked_card.updated_at == datetime.datetime.fromtimestamp(CREATED, tz=datetime.UTC)
    audit = AuditEvent.objects.get(action="card.processor_update")
    assert (audit.actor_label, audit.target_id) == ("stripe webhook", blocked_card.pk)
    assert audit.before["last4"] == "4242"
    assert audit.after["last4"] == "1881"
    assert audit.before["blocked_code"] == "expired_card"
    # Stripe delivers again: nothing more happens.
    Card.objects.filter(pk=blocked_card.pk).update(last4="0000")  # would be overwritten if processed again
    replay = post(client, payload, sign(payload))
    assert (replay.status_code, replay.content.decode()) == (200, "event evt_card_1 already processed")
    assert Card.objects.get(pk=blocked_card.pk).last4 == "0000"
    assert AuditEvent.objects.filter(action="card.processor_update").count() == 1
    assert WebhookEvent.objects.filter(event_id="evt_card_1").count() == 1


@pytest.mark.django_db
def test_an_older_event_after_a_newer_one_changes_nothing(client, configured, blocked_card):
    newer = card_event(event_id="evt_new", created=CREATED, last4="1881", exp=(1, 2030))
    older = card_event(
        kind="payment_method.updated", event_id="evt_old", created=CREATED - 60, last4="5556", exp=(6, 2028)
    )
    assert post(client, newer, sign(newer)).status_code == 200
    response = post(client, older, sign(older))
    assert response.status_code == 200
    assert "ignored an update" in response.content.decode()
    blocked_card.refresh_from_db()
    assert (blocked_card.last4, blocked_card.exp_month, blocked_card.exp_year) == ("1881", 1, 2030)
    assert AuditEvent.objects.filter(action="card.processor_update").count() == 1


@pytest.mark.django_db
def test_an_update_that_keeps_the_number_and_expiry_keeps_the_block(client, configured, blocked_card):
    payload = card_event(kind="payment_method.updated", last4="4242", exp=(1, 2027), brand="visa")
    assert post(client, payload, sign(payload)).content.decode() == f"card {blocked_card.pk} unchanged"
    blocked_card.refresh_from_db()
    assert blocked_card.blocked_code == "expired_card"  # the same dead card: still not retried
    assert blocked_card.updated_at is not None


@pytest.mark.django_db
def test_an_unknown_payment_method_is_acknowledged_and_changes_nothing(client, configured, blocked_card):
    payload = card_event(pm="pm_somebody_elses")
    response = post(client, payload, sign(payload))
    assert (response.status_code, response.content.decode()) == (200, "no card for pm_somebody_elses")
    blocked_card.refresh_from_db()
    assert (blocked_card.last4, blocked_card.updated_at) == ("4242", None)
    assert not AuditEvent.objects.filter(action="card.processor_update").exists()


@pytest.mark.django_db
def test_a_badly_signed_card_event_is_refused(client, configured, blocked_card):
    payload = card_event()
    assert post(client, payload, sign(payload, secret="whsec_wrong")).status_code == 400
    blocked_card.refresh_from_db()
    assert blocked_card.last4 == "4242"


@pytest.mark.django_db
def test_the_cards_page_shows_the_updated_card(client, configured, blocked_card):
    owner = member(customer=blocked_card.account.customer, username="owner", password="pw")
    client.force_login(owner)
    assert "visa •••• 4242 (default)" in client.get(reverse("cards")).content.decode()
    payload = card_event(brand="mastercard", last4="4444", exp=(9, 2031))
    post(client, payload, sign(payload))
    page = client.get(reverse("cards")).content.decode()
    assert "mastercard •••• 4444 (default)" in page
    assert "9/2031" in page
    assert "4242" not in page


@pytest.mark.django_db
def test_an_unusable_expiry_is_not_taken(client, configured, blocked_card):
    payload = card_event(kind="payment_method.updated", last4="1881", exp=(13, 2030))
    assert post(client, payload, sign(payload)).status_code == 200
    blocked_card.refresh_from_db()
    assert (blocked_card.last4, blocked_card.exp_month, blocked_card.exp_year) == ("1881", 1, 2027)
