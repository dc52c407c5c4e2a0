"""Hard declines (docs/dunning.md): a lost, stolen or expired card, or
do_not_honor twice in a cycle, stops the nightly card retries for that
cycle and tells the customer once to update the card; the balance is still
tried each night; the card's holder paying with it in the browser clears
the block. Against a real localstripe; the decline codes (which
localstripe does not give) come from Stripe's card_error answer injected
at the SDK's transport, as Stripe sends it."""

import contextlib
import datetime
import json
from decimal import Decimal

import pytest
import stripe
from django.contrib.auth import get_user_model
from django.urls import reverse

from balances.models import Account, EntryKind
from balances.services import ledger_post
from notifications.models import Notice
from orders.models import Order
from payments.models import AttemptState, Card, PaymentAttempt
from payments.services import card_add, top_up_by_card
from renewals.manual import renewal_pay, renewal_quote
from renewals.models import BatchAttempt
from renewals.sweep.run import sweep_run
from tenants.models import Customer
from tenants.scope import Actor, ActorKind
from tenants.services import membership_link
from tests.payments.conftest import confirming
from tests.payments.test_cards import GOOD, tokenise
from tests.renewals.conftest import order

D = datetime.date
EXPIRES = D(2026, 12, 10)  # the window opens on Dec 3


@pytest.fixture
def declining(monkeypatch):
    """``with declining("lost_card"):`` every charge is answered as Stripe
    declines it (HTTP 402, a card_error with that decline code); ``code``
    the error's own code (``expired_card`` comes as a code, not a
    decline_code). Returns the URLs it declined."""
    real_request = stripe.RequestsClient.request

    @contextlib.contextmanager
    def decline(decline_code: str | None, *, code: str = "card_declined"):
        hits = []

        def request(self, method, url, headers, post_data=None):
            body = post_data.decode() if isinstance(post_data, bytes) else post_data or ""
            if not confirming(method.lower(), url, body):
                return real_request(self, method, url, headers, post_data)
            hits.append(url)
            error = {"type": "card_error", "code": code, "message": "Your card was declined."}
            if decline_code:
                error["decline_code"] = decline_code
            headers = {"Content-Type": "application/json", "Request-Id": "req_x"}
            return json.dumps({"error": error}).encode(), 402, headers

        monkeypatch.setattr(stripe.RequestsClient, "request", request)
        try:
            yield hits
        finally:
            monkeypatch.setattr(stripe.RequestsClient, "request", real_request)

    return decline


@pytest.fixture
def card_portal(portal, stripe_on):
    # A balance-paid order the balance cannot cover: the card pays the shortfall.
    portal(
        [order("o1", EXPIRES)],
        customers=[{"ref": "c1", "name": "Jane", "email": "j@x.test", "reseller": "r1", "balance": "5.00"}],
    )
    customer = Customer.objects.get(ref="c1")
    actor = Actor(kind=ActorKind.CUSTOMER, label="jane", customer_id=customer.pk)
    card_add(actor=actor, account_id=customer.pk, payment_method_id=tokenise(GOOD))
    return actor


def card() -> Card:
    return Card.objects.get()


def nights(start: datetime.date, end: datetime.date):
    day = start
    while day <= end:
        yield day
        day += datetime.timedelta(days=1)


def outcomes() -> list[tuple]:
    return list(BatchAttempt.objects.order_by("business_date").values_list("business_date", "outcome", "reason"))


@pytest.mark.django_db
def test_a_lost_card_is_not_charged_again_in_the_cycle_and_the_balance_still_renews(
    card_portal, declining, assert_invariants
):
    # Given the card is declined as lost on the first night
    with declining("lost_card") as hits:
        sweep_run(on=D(2026, 12, 3))
        # When the next nights run
        sweep_run(on=D(2026, 12, 4))
        sweep_run(on=D(2026, 12, 5))
    # Then the card was charged once: the later nights try the balance alone
    assert len(hits) == 1
    attempt = PaymentAttempt.objects.get()
    assert (attempt.state, attempt.decline_code) == (AttemptState.FAILED, "lost_card")
    assert (card().retry_blocked_until, card().blocked_code) == (EXPIRES, "lost_card")
    assert outcomes() == [
        (D(2026, 12, 3), "failed", "card_declined"),
        (D(2026, 12, 4), "failed", "insufficient_funds"),
        (D(2026, 12, 5), "failed", "insufficient_funds"),
    ]
    # and the customer is told once to update the card, naming the order
    notice = Notice.objects.get(kind="card_update_needed")
    text = notice.rendered().text
    assert "was reported lost" in text
    assert "o1" in text
    assert notice.order_refs == ["o1"]
    # When the balance is topped up, the next night renews from it
    ledger_post(
        actor=Actor.system("test"),
        account_id=Account.objects.get().pk,
        amount=Decimal("10.00"),
        kind=EntryKind.ADJUSTMENT,
        memo="top-up by transfer",
    )
    sweep_run(on=D(2026, 12, 6))
    assert Order.objects.get().expires_on == D(2027, 1, 10)
    assert PaymentAttempt.objects.count() == 1  # never charged again
    assert Notice.objects.filter(kind="card_update_needed").count() == 1
    assert_invariants()


@pytest.mark.django_db
def test_do_not_honor_twice_in_the_cycle_stops_the_card_with_one_notice(card_portal, declining, assert_invariants):
    with declining("do_not_honor") as hits:
        sweep_run(on=D(2026, 12, 3))
        # once: a soft decline, tried again the next night
        assert card().retry_blocked_until is None
        assert not Notice.objects.filter(kind="card_update_needed").exists()
        sweep_run(on=D(2026, 12, 4))
        # twice: hard
        assert (card().retry_blocked_until, card().blocked_code) == (EXPIRES, "do_not_honor")
        for night in nights(D(2026, 12, 5), EXPIRES):
            sweep_run(on=night)
    assert len(hits) == 2
    assert list(PaymentAttempt.objects.values_list("decline_code", flat=True)) == ["do_not_honor"] * 2
    assert Notice.objects.filter(kind="card_update_needed").count() == 1
    assert {reason for _, _, reason in outcomes()[2:]} == {"insufficient_funds"}
    assert_invariants()


@pytest.mark.django_db
def test_a_soft_decline_keeps_the_card_tried(card_portal, declining):
    with declining("generic_decline") as hits:
        sweep_run(on=D(2026, 12, 3))
        sweep_run(on=D(2026, 12, 4))
    assert len(hits) == 2
    assert card().retry_blocked_until is None
    assert not Notice.objects.filter(kind="card_update_needed").exists()


@pytest.mark.django_db
def test_an_expired_card_code_is_hard_too(card_portal, declining):
    with declining(None, code="expired_card"):
        sweep_run(on=D(2026, 12, 3))
    assert PaymentAttempt.objects.get().decline_code == "expired_card"
    assert card().blocked_code == "expired_card"


@pytest.mark.django_db
def test_the_block_clears_when_the_holder_pays_with_the_card_in_the_browser(card_portal, declining, client):
    with declining("stolen_card"):
        sweep_run(on=D(2026, 12, 3))
    assert card().retry_blocked_until == EXPIRES
    # The cards page says so
    user = get_user_model().objects.create_user("jane", password="pw-123456789")
    membership_link(user=user, customer=Customer.objects.get(ref="c1"))
    client.force_login(user)
    assert "Declined for good: update it." in client.get(reverse("cards")).content.decode()
    # When the holder renews by hand with the card (the bank answers again)
    quote = renewal_quote(actor=card_portal, items=[(Order.objects.get().pk, 1)])
    renewal_pay(actor=card_portal, quote=quote, payment="card", on=D(2026, 12, 4))
    # Then the block is gone: the nightly run may charge it again
    assert (card().retry_blocked_until, card().blocked_code) == (None, "")
    assert Order.objects.get().expires_on == D(2027, 1, 10)
    assert "Declined for good" not in client.get(reverse("cards")).content.decode()


@pytest.mark.django_db
def test_a_card_top_up_in_the_browser_clears_the_block_too(card_portal, declining, assert_invariants):
    with declining("expired_card"):
        sweep_run(on=D(2026, 12, 3))
    assert card().retry_blocked_until == EXPIRES
    attempt = top_up_by_card(actor=card_portal, account_id=Account.objects.get().pk, amount=Decimal("20.00"))
    assert attempt.state == AttemptState.SUCCEEDED
    assert (card().retry_blocked_until, card().blocked_code) == (None, "")
    # and the next night may charge it again (here the balance covers the batch)
    sweep_run(on=D(2026, 12, 4))
    assert Order.objects.get().expires_on == D(2027, 1, 10)
    assert_invariants()
