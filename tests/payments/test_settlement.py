"""The settle-handler registry (payments.settlement): payments settles an
attempt by the handler registered for its purpose, and a purpose without one
never loses the money: the charge stays recorded and open, the operators are
told, and it is settled once a handler is there."""

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from balances.models import Account, LedgerEntry
from core.models import Fault, Stage
from payments import settlement
from payments.charges import payment_attempts_reconcile
from payments.models import AttemptPurpose, AttemptState, PaymentAttempt, WebhookEvent
from payments.services import top_up_by_card
from payments.settlement import NoSettleHandler, handlers_check, register, settle
from payments.webhooks import webhook_handle
from renewals.settlement import settle_renewal
from tenants.scope import Actor
from tests.payments.test_processor_faults import intents_for, jane, later  # noqa: F401 - jane: a fixture
from tests.payments.test_webhooks import event, sign, unknown_top_up  # noqa: F401 - unknown_top_up: a fixture


@pytest.fixture
def no_top_up_handler(monkeypatch):
    """A deployment where nothing settles top-ups (undone at the end, or by
    ``monkeypatch.undo()``)."""
    monkeypatch.delitem(settlement.HANDLERS, AttemptPurpose.TOP_UP)
    return monkeypatch


def test_each_purpose_is_settled_by_its_apps_handler():
    assert settlement.HANDLERS[AttemptPurpose.TOP_UP].settle is settlement.top_up_settle
    assert settlement.HANDLERS[AttemptPurpose.RENEWAL].settle is settle_renewal  # renewals.apps registered it
    assert handlers_check() == []


def test_a_purpose_has_one_handler():
    register(AttemptPurpose.TOP_UP, settlement.top_up_settle)  # the same again (a second ready()): no change
    with pytest.raises(ImproperlyConfigured, match="purpose 'top_up' have a settle handler already"):
        register(AttemptPurpose.TOP_UP, settle_renewal)
    assert settlement.HANDLERS[AttemptPurpose.TOP_UP].settle is settlement.top_up_settle


def test_the_system_check_names_a_purpose_without_a_handler(no_top_up_handler):
    (error,) = handlers_check()
    assert (error.id, error.msg) == (
        "payments.E001",
        "card payments of purpose 'top_up' have no settle handler: they would be charged and never settled",
    )


@pytest.mark.django_db
def test_settling_without_a_handler_refuses_and_changes_nothing(jane, no_top_up_handler):  # noqa: F811
    customer, _actor = jane
    attempt = PaymentAttempt.objects.create(
        account_id=customer.pk,
        purpose=AttemptPurpose.TOP_UP,
        amount=Decimal("40.00"),
        currency="USD",
        idempotency_key="top-up-test",
        business_date="2026-12-01",
        state=AttemptState.UNKNOWN,
    )
    with pytest.raises(NoSettleHandler, match="no settle handler is registered for card payments of purpose 'top_up'"):
        settle(attempt, AttemptState.SUCCEEDED, actor=Actor.system("test"))
    attempt.refresh_from_db()
    assert (attempt.state, attempt.settled_at) == (AttemptState.UNKNOWN, None)


@pytest.mark.django_db
def test_a_charge_without_a_handler_stays_open_told_and_is_settled_once_one_is_there(
    jane,  # noqa: F811
    no_top_up_handler,
    assert_invariants,
):
    """Charged at Stripe, nothing to settle it with: the attempt is left
    unknown with the charge's id, a fault tells the operators, each
    reconciliation pass leaves it open; the first pass after the handler is
    back credits it once."""
    customer, actor = jane
    attempt = top_up_by_card(actor=actor, account_id=customer.pk, amount=Decimal("40.00"))
    assert attempt.state == AttemptState.UNKNOWN
    assert attempt.stripe_payment_intent_id
    assert "NoSettleHandler" in attempt.error
    fault = Fault.objects.get()
    assert (fault.stage, fault.subject) == (Stage.CARD, f"attempt:{attempt.pk}")
    assert intents_for(customer) == [("succeeded", 4000)]  # the money moved at Stripe
    with later():
        assert payment_attempts_reconcile() == {"settled": 0, "still_unknown": 1}
    assert not LedgerEntry.objects.filter(kind="card_top_up").exists()
    assert Account.objects.get(pk=customer.pk).balance == 0

    no_top_up_handler.undo()  # the handler is back (the fix deployed)
    with later():
        assert payment_attempts_reconcile() == {"settled": 1, "still_unknown": 0}
        assert payment_attempts_reconcile() == {"settled": 0, "still_unknown": 0}
    assert LedgerEntry.objects.get(kind="card_top_up").amount == Decimal("40.00")
    assert intents_for(customer) == [("succeeded", 4000)]  # never charged again
    assert_invariants()


@pytest.mark.django_db
def test_a_webhook_without_a_handler_fails_so_that_stripe_delivers_it_again(unknown_top_up, no_top_up_handler):  # noqa: F811
    payload = event(unknown_top_up.stripe_payment_intent_id)
    with pytest.raises(NoSettleHandler):
        webhook_handle(payload=payload, signature=sign(payload))  # the endpoint answers 500
    assert not WebhookEvent.objects.exists()  # not marked done: the next delivery is processed
    no_top_up_handler.undo()
    assert webhook_handle(payload=payload, signature=sign(payload)) == f"attempt {unknown_top_up.pk} settled"
    assert LedgerEntry.objects.get(kind="card_top_up").amount == Decimal("30.00")
