"""POST /api/balance/top-up/ with an Idempotency-Key, against a real
localstripe: one card charge per key and login, whatever is sent again.

The portal (tests/panels/conftest.py): c1 (balance 100.00), logins owner and
colleague; c9's login is outsider.
"""

from decimal import Decimal

import pytest

from api.views import account as account_views
from balances.models import Account, EntryKind, LedgerEntry
from once.models import IdempotencyKey, IdempotencyState
from payments.models import PaymentAttempt
from payments.services import card_add
from tenants.scope import Actor
from tests.payments.test_card_renewals import intents_of
from tests.payments.test_cards import GOOD, tokenise

TOP_UP = "/api/balance/top-up/"


@pytest.fixture
def card(tenants, stripe_on):
    """c1 has a good card saved at localstripe."""
    c1 = tenants.customers["c1"]
    return card_add(actor=Actor.system("test"), account_id=c1.pk, payment_method_id=tokenise(GOOD))


def top_up(client, amount: str, key: str | None = "top-up-1"):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(TOP_UP, {"amount": amount}, format="json", **headers)


def charged(ref: str = "c1") -> list:
    """What Stripe charged the customer, and what the ledger credited."""
    intents = [(i.status, i.amount) for i in intents_of(ref)]
    credits = list(
        LedgerEntry.objects.filter(account__customer__ref=ref, kind=EntryKind.CARD_TOP_UP).values_list(
            "amount", flat=True
        )
    )
    return [intents, credits, Account.objects.get(customer__ref=ref).balance]


@pytest.mark.django_db
def test_a_top_up_posted_twice_with_one_key_charges_once(api, tenants, card):
    owner = api("owner")

    first = top_up(owner, "25.00")
    again = top_up(owner, "25.00")

    assert first.status_code == again.status_code == 201
    assert first.json()["state"] == "succeeded"
    assert again.content == first.content  # the first answer, byte for byte
    assert (again.headers["Idempotent-Replayed"], "Idempotent-Replayed" in first.headers) == ("true", False)
    assert charged() == [[("succeeded", 2500)], [Decimal("25.00")], Decimal("125.00")]


@pytest.mark.django_db
def test_the_same_key_with_another_amount_is_refused_with_422(api, tenants, card):
    owner = api("owner")
    assert top_up(owner, "25.00").status_code == 201

    other = top_up(owner, "30.00")

    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert charged() == [[("succeeded", 2500)], [Decimal("25.00")], Decimal("125.00")]


@pytest.mark.django_db
def test_keys_are_per_login(api, tenants, card):
    # The colleague's request with the owner's key string is a request of its own.
    assert top_up(api("owner"), "25.00", key="monthly").status_code == 201
    theirs = top_up(api("colleague"), "25.00", key="monthly")

    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert charged() == [[("succeeded", 2500)] * 2, [Decimal("25.00")] * 2, Decimal("150.00")]


@pytest.mark.django_db
@pytest.mark.parametrize("key", [None, "", "x" * 101, "a b"], ids=["missing", "empty", "too-long", "space"])
def test_a_top_up_without_a_good_key_is_a_400_and_charges_nothing(api, tenants, card, key):
    response = top_up(api("owner"), "25.00", key=key)

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["Idempotency-Key"]
    assert charged() == [[], [], Decimal("100.00")]
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_a_refusal_is_stored_and_replayed(api, tenants, stripe_on):
    # Given no saved card: 422 no_usable_card, nothing written but the key's answer
    owner = api("owner")
    refused = top_up(owner, "25.00")
    replay = top_up(owner, "25.00")

    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "no_usable_card")
    assert (replay.status_code, replay.content, replay.headers["Idempotent-Replayed"]) == (422, refused.content, "true")
    assert not PaymentAttempt.objects.exists()


@pytest.mark.django_db
def test_a_retry_after_a_crash_between_the_charge_and_its_answer_charges_nothing(api, tenants, card, monkeypatch):
    # Given the card was charged and credited, then the worker failed before answering
    owner = api("owner")

    class Crash(RuntimeError):
        pass

    def crashing(attempt):
        raise Crash("the worker died after the charge")

    with monkeypatch.context() as patched:
        patched.setattr(account_views, "PaymentAttemptSerializer", crashing)
        with pytest.raises(Crash):
            top_up(owner, "25.00")
    assert IdempotencyKey.objects.get().state == IdempotencyState.FAILED  # released: the client may retry
    assert charged() == [[("succeeded", 2500)], [Decimal("25.00")], Decimal("125.00")]

    # When the client sends it again with the same key
    retry = top_up(owner, "25.00")

    # Then it answers the first charge's outcome, and nothing is charged again
    assert retry.status_code == 201
    assert retry.json() == {
        "id": PaymentAttempt.objects.get().pk,
        "state": "succeeded",
        "amount": "25.00",
        "currency": "USD",
        "error": "",
    }
    assert charged() == [[("succeeded", 2500)], [Decimal("25.00")], Decimal("125.00")]
    assert IdempotencyKey.objects.get().state == IdempotencyState.DONE
