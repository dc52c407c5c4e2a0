"""Saved cards and card top-ups against a real localstripe, through the
official SDK."""

from decimal import Decimal

import pytest

from balances.models import Account, LedgerEntry
from core.errors import DomainError
from payments.charges import payment_attempts_reconcile
from payments.gateway import CardsUnavailable, stripe_client
from payments.models import AttemptState, Card, PaymentAttempt
from payments.services import (
    CardDeclined,
    card_add,
    card_remove,
    card_set_default,
    top_up_by_card,
)
from tenants.scope import Actor, ActorKind
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

GOOD = "4242424242424242"
DECLINES_AT_CHARGE = "4000000000000341"
REFUSED_AT_ATTACH = "4000000000000002"


def tokenise(number: str) -> str:
    """What Stripe.js does in the browser: the card number goes to Stripe,
    our server only ever sees the PaymentMethod id."""
    card = {"number": number, "exp_month": 12, "exp_year": 2031, "cvc": "123"}
    return stripe_client().PaymentMethod.create(type="card", card=card).id


@pytest.fixture
def jane(stripe_on):
    customer = CustomerFactory(email="jane@example.test")
    return customer, Actor(kind=ActorKind.CUSTOMER, label="jane", customer_id=customer.pk)


def test_add_list_default_and_remove_cards(jane):
    customer, actor = jane
    first = card_add(actor=actor, account_id=customer.pk, payment_method_id=tokenise(GOOD))
    assert (first.brand, first.last4, first.exp_month, first.exp_year, first.is_default) == (
        "visa",
        "4242",
        12,
        2031,
        True,
    )
    account = Account.objects.get(pk=customer.pk)
    assert account.stripe_customer_id.startswith("cus_")
    assert account.stripe_payment_method_id == first.stripe_payment_method_id
    second = card_add(actor=actor, account_id=customer.pk, payment_method_id=tokenise(DECLINES_AT_CHARGE))
    assert second.is_default is False
    card_set_default(actor=actor, card_id=second.pk)
    assert list(Card.objects.filter(is_default=True).values_list("pk", flat=True)) == [second.pk]
    card_remove(actor=actor, card_id=second.pk)
    assert list(Card.objects.values_list("pk", "is_default")) == [(first.pk, True)]
    attached = stripe_client().PaymentMethod.list(customer=account.stripe_customer_id, type="card").data
    assert [m.id for m in attached] == [first.stripe_payment_method_id]


def test_a_card_refused_at_attach_says_so_and_saves_nothing(jane):
    customer, actor = jane
    with pytest.raises(CardDeclined, match="the card was refused: Your card was declined."):
        card_add(actor=actor, account_id=customer.pk, payment_method_id=tokenise(REFUSED_AT_ATTACH))
    assert not Card.objects.exists()


def test_an_outsider_cannot_touch_the_cards(jane):
    customer, actor = jane
    card = card_add(actor=actor, account_id=customer.pk, payment_method_id=tokenise(GOOD))
    stranger = CustomerFactory()
    outsider = Actor(kind=ActorKind.CUSTOMER, label="x", customer_id=stranger.pk)
    with pytest.raises(DomainError, match="not found"):
        card_remove(actor=outsider, card_id=card.pk)
    with pytest.raises(DomainError, match="not found"):
        top_up_by_card(actor=outsider, account_id=customer.pk, amount=Decimal("5.00"))
    assert Card.objects.count() == 1


def test_top_up_by_card_credits_the_balance_once_it_succeeded(jane, assert_invariants):
    customer, actor = jane
    card_add(actor=actor, account_id=customer.pk, payment_method_id=tokenise(GOOD))
    attempt = top_up_by_card(actor=actor, account_id=customer.pk, amount=Decimal("25.00"))
    assert attempt.state == AttemptState.SUCCEEDED
    intent = stripe_client().PaymentIntent.retrieve(attempt.stripe_payment_intent_id)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 2500, "usd")
    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.amount, entry.reference) == ("card_top_up", Decimal("25.00"), intent.id)
    assert Account.objects.get(pk=customer.pk).balance == Decimal("25.00")
    assert_invariants()


def test_a_declined_top_up_credits_nothing_and_says_why(jane):
    customer, actor = jane
    card_add(actor=actor, account_id=customer.pk, payment_method_id=tokenise(DECLINES_AT_CHARGE))
    attempt = top_up_by_card(actor=actor, account_id=customer.pk, amount=Decimal("25.00"))
    assert (attempt.state, attempt.error) == (AttemptState.FAILED, "Your card was declined.")
    assert not LedgerEntry.objects.exists()


def test_a_top_up_in_another_currency_is_refused(jane):
    customer, actor = jane
    card_add(actor=actor, account_id=customer.pk, payment_method_id=tokenise(GOOD))
    with pytest.raises(DomainError, match="this account pays in USD, not EUR"):
        top_up_by_card(actor=actor, account_id=customer.pk, amount=Decimal("5.00"), currency="EUR")
    assert not PaymentAttempt.objects.exists()


def test_a_lost_reply_is_reconciled_into_exactly_one_charge(jane, reply_lost, assert_invariants):
    """Stripe charged the card but the reply never arrived: the attempt is
    unknown, nothing is credited; reconciliation finds the charge by its
    stored id and credits it once; nothing is charged again."""
    customer, actor = jane
    card_add(actor=actor, account_id=customer.pk, payment_method_id=tokenise(GOOD))
    with reply_lost():
        attempt = top_up_by_card(actor=actor, account_id=customer.pk, amount=Decimal("40.00"))
    assert attempt.state == AttemptState.UNKNOWN
    assert not LedgerEntry.objects.exists()
    assert payment_attempts_reconcile() == {"settled": 1, "still_unknown": 0}
    assert payment_attempts_reconcile() == {"settled": 0, "still_unknown": 0}
    attempt.refresh_from_db()
    assert attempt.state == AttemptState.SUCCEEDED
    assert LedgerEntry.objects.get().amount == Decimal("40.00")
    stripe_customer = Account.objects.get(pk=customer.pk).stripe_customer_id
    # localstripe cannot filter intents by customer: list all, keep this one's.
    intents = [
        i for i in stripe_client().PaymentIntent.list(limit=100).auto_paging_iter() if i.customer == stripe_customer
    ]
    assert [(i.status, i.amount) for i in intents] == [("succeeded", 4000)]
    assert_invariants()


def test_without_stripe_configured_card_features_say_so(db, settings):
    settings.STRIPE_SECRET_KEY = ""
    customer = CustomerFactory()
    actor = Actor(kind=ActorKind.CUSTOMER, label="c", customer_id=customer.pk)
    with pytest.raises(CardsUnavailable, match="card payments are not configured on this portal"):
        card_add(actor=actor, account_id=customer.pk, payment_method_id="pm_x")


@pytest.mark.django_db
def test_a_top_up_without_stripe_configured_is_refused_and_writes_nothing(settings):
    settings.STRIPE_SECRET_KEY = ""
    customer = CustomerFactory()
    Card.objects.create(account_id=customer.pk, stripe_payment_method_id="pm_imported", is_default=True)
    actor = Actor(kind=ActorKind.CUSTOMER, label="c", customer_id=customer.pk)
    with pytest.raises(DomainError, match="card payments are not configured"):
        top_up_by_card(actor=actor, account_id=customer.pk, amount="10.00")
    assert not PaymentAttempt.objects.exists()
