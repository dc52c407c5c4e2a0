"""Refunds and disputes made at the processor reach the ledger (SPEC "Money"):
each once, however often and in whatever order Stripe delivers its events,
even below the credit limit; the account then owes and renews nothing until
it is back; the operators are mailed each one. Against a real localstripe,
with signed deliveries to the real endpoint."""

import datetime
import json
from decimal import Decimal

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse

from balances.models import Account, LedgerEntry
from balances.services import ledger_post
from core.errors import InsufficientFunds
from orders.models import Order
from payments.gateway import stripe_client
from payments.models import AttemptState, PaymentAttempt, ProcessorMovement
from payments.refunds import movements_alert
from payments.services import top_up_by_card
from payments.webhooks import webhook_handle
from renewals.manual import renewal_pay, renewal_quote
from renewals.tasks import deliver_notices
from tenants.models import Customer
from tenants.scope import Actor, ActorKind
from tests.factories import member
from tests.helpers import run_concurrently
from tests.payments.test_card_renewals import account, intents_of, save_card
from tests.payments.test_cards import GOOD
from tests.payments.test_webhooks import SECRET, post, sign
from tests.renewals.conftest import order

D = datetime.date
M = Decimal
PAID_THRU = D(2026, 12, 10)
ON = D(2026, 12, 5)  # o1's window is open: the sweep renews it from the balance


def customer_actor(ref: str = "c1") -> Actor:
    customer = Customer.objects.get(ref=ref)
    return Actor(kind=ActorKind.CUSTOMER, label=ref, customer_id=customer.pk)


def top_up(amount: str) -> PaymentAttempt:
    attempt = top_up_by_card(actor=customer_actor(), account_id=account().pk, amount=M(amount))
    assert attempt.state == AttemptState.SUCCEEDED
    return attempt


@pytest.fixture
def topped_up(portal, stripe_on, settings):
    """c1 (no credit limit, a saved card) topped up 30.00 by card, with o1
    (10.00 a month, paid from the balance) paid thru 2026-12-10."""
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    settings.ADMINS = [("Ops", "ops@example.test")]
    customer = {"ref": "c1", "name": "Jane", "email": "j@x.test", "reseller": "r1", "balance": "0.00"}
    portal([order("o1", PAID_THRU)], customers=[customer])
    save_card(GOOD)
    return top_up("30.00")


def charge_of(attempt: PaymentAttempt) -> dict:
    """The payment's Charge as Stripe holds it now (refunds listed)."""
    intent = stripe_client().PaymentIntent.retrieve(attempt.stripe_payment_intent_id)
    charge_id = intent.latest_charge if isinstance(intent.latest_charge, str) else intent.latest_charge.id
    return stripe_client().Charge.retrieve(charge_id).to_dict()


def refund_at_stripe(attempt: PaymentAttempt, amount: int | None = None):
    """A refund made at Stripe (its dashboard), not through the portal."""
    options = {"amount": amount} if amount is not None else {}
    return stripe_client().Refund.create(payment_intent=attempt.stripe_payment_intent_id, **options)


def payload(event_id: str, kind: str, obj: dict) -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": kind, "data": {"object": obj}}).encode()


def deliver(client, body: bytes) -> str:
    response = post(client, body, sign(body))
    assert response.status_code == 200, response.content
    return response.content.decode()


def refunded(client, attempt: PaymentAttempt, event_id: str, *, listed: bool = True) -> str:
    """Stripe's charge.refunded for the payment as it is now; ``listed``:
    with the charge's refunds (API versions before 2022-11-15)."""
    charge = charge_of(attempt)
    if not listed:
        charge.pop("refunds")
    return deliver(client, payload(event_id, "charge.refunded", charge))


def dispute(attempt: PaymentAttempt, status: str, *, amount: int = 3000, with_intent: bool = True) -> dict:
    charge = charge_of(attempt)
    obj = {
        "id": "dp_1",
        "object": "dispute",
        "amount": amount,
        "currency": "usd",
        "charge": charge["id"],
        "status": status,
        "reason": "fraudulent",
    }
    if with_intent:
        obj["payment_intent"] = attempt.stripe_payment_intent_id
    return obj


def entries(*kinds: str) -> list[tuple[str, Decimal, str]]:
    kinds = kinds or ("refund", "dispute", "dispute_reversal")
    return list(LedgerEntry.objects.filter(kind__in=kinds).order_by("pk").values_list("kind", "amount", "reference"))


pytestmark = pytest.mark.django_db


def test_a_refund_made_at_stripe_is_posted_once_however_often_it_is_delivered(client, topped_up, assert_invariants):
    refund = refund_at_stripe(topped_up)
    assert refunded(client, topped_up, "evt_r1") == f"refund {refund.id} of 30.00 USD recorded"
    assert refunded(client, topped_up, "evt_r1") == "event evt_r1 already processed"  # Stripe's retry
    # Another event naming the same refund (Stripe may send several): nothing more.
    assert refunded(client, topped_up, "evt_r1_again") == f"refund {refund.id} already recorded"
    assert entries() == [("refund", M("-30.00"), refund.id)]
    assert account().balance == M("0.00")
    movement = ProcessorMovement.objects.get()
    assert (movement.kind, movement.origin, movement.processor_id, movement.amount) == (
        "refund",
        "processor",
        refund.id,
        M("30.00"),
    )
    assert movement.entry.reference == refund.id
    assert_invariants()


def test_a_second_partial_refund_posts_only_its_own_part(client, topped_up, assert_invariants):
    first = refund_at_stripe(topped_up, 1000)
    for _ in range(2):
        refunded(client, topped_up, "evt_r1")
    second = refund_at_stripe(topped_up, 500)
    assert charge_of(topped_up)["amount_refunded"] == 1500  # cumulative: both refunds
    for _ in range(2):
        refunded(client, topped_up, "evt_r2")
    assert entries() == [("refund", M("-10.00"), first.id), ("refund", M("-5.00"), second.id)]
    assert account().balance == M("15.00")
    assert_invariants()


def test_a_refund_event_that_does_not_list_the_refunds_asks_stripe_for_them(client, topped_up, assert_invariants):
    # API versions since 2022-11-15 leave a charge's refunds out of its events.
    first = refund_at_stripe(topped_up, 1000)
    second = refund_at_stripe(topped_up, 2000)
    refunded(client, topped_up, "evt_r", listed=False)
    assert sorted(entries()) == sorted([("refund", M("-10.00"), first.id), ("refund", M("-20.00"), second.id)])
    assert account().balance == M("0.00")
    assert_invariants()


def test_a_lost_dispute_takes_the_amount_once(client, topped_up, assert_invariants):
    for _ in range(2):
        deliver(client, payload("evt_d1", "charge.dispute.created", dispute(topped_up, "needs_response")))
    assert account().balance == M("0.00")  # withdrawn when it opened
    for _ in range(2):
        deliver(client, payload("evt_d2", "charge.dispute.closed", dispute(topped_up, "lost")))
    assert entries() == [("dispute", M("-30.00"), "dp_1")]
    assert account().balance == M("0.00")
    assert_invariants()


def test_a_won_dispute_gives_the_amount_back_once(client, topped_up, assert_invariants):
    deliver(client, payload("evt_d1", "charge.dispute.created", dispute(topped_up, "needs_response")))
    deliver(client, payload("evt_d1", "charge.dispute.created", dispute(topped_up, "needs_response")))
    for _ in range(2):
        deliver(client, payload("evt_d2", "charge.dispute.closed", dispute(topped_up, "won")))
    # Stripe also says so with funds_reinstated: the same reinstatement, not a second one.
    deliver(client, payload("evt_d3", "charge.dispute.funds_reinstated", dispute(topped_up, "won")))
    assert entries() == [("dispute", M("-30.00"), "dp_1"), ("dispute_reversal", M("30.00"), "dp_1")]
    assert account().balance == M("30.00")
    assert_invariants()


def test_a_dispute_closed_whose_opening_event_was_missed_still_posts_what_moved(client, topped_up, assert_invariants):
    # Only the closing event arrives, without the intent's id: it is found from the charge at Stripe.
    closed = dispute(topped_up, "won", with_intent=False)
    deliver(client, payload("evt_d2", "charge.dispute.closed", closed))
    assert entries() == [("dispute", M("-30.00"), "dp_1"), ("dispute_reversal", M("30.00"), "dp_1")]
    assert account().balance == M("30.00")
    assert_invariants()


def test_an_inquiry_moves_nothing_and_an_unknown_payment_is_left_alone(client, topped_up):
    inquiry = dispute(topped_up, "warning_needs_response")
    assert deliver(client, payload("evt_w", "charge.dispute.created", inquiry)) == "nothing moved"
    stranger = {**dispute(topped_up, "needs_response"), "id": "dp_9", "payment_intent": "pi_not_ours"}
    assert deliver(client, payload("evt_s", "charge.dispute.created", stranger)) == "no payment for dispute dp_9"
    assert entries() == []
    assert not ProcessorMovement.objects.exists()


def test_below_the_credit_limit_the_account_owes_and_renews_nothing_until_it_is_back(
    client, topped_up, run, assert_invariants
):
    # Given 10.00 of the 30.00 top-up spent on o1's renewal
    assert run(ON)["batches"][0]["outcome"] == "renewed"
    assert account().balance == M("20.00")
    # When the whole 30.00 is refunded at Stripe: recorded, below the limit
    refund = refund_at_stripe(topped_up)
    refunded(client, topped_up, "evt_r1")
    acct = account()
    assert (acct.balance, acct.overdrawn, acct.owes) == (M("-10.00"), M("10.00"), M("10.00"))
    assert_invariants()

    # Only a processor's movement may go there: a renewal debit is refused by
    # the service and by the database itself.
    with pytest.raises(InsufficientFunds):
        ledger_post(actor=Actor.system("t"), account_id=acct.pk, amount=M("-1.00"), kind="renewal")
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=acct.pk).update(balance=F("balance") - 1)
    # ... and the refund itself cannot be posted twice, even past the services.
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(
            account=acct, kind="refund", amount=M("-1"), balance_after=M("-11"), business_date=ON, reference=refund.id
        )

    # The panels say so: the customer's balance page, the reseller's customer list.
    client.force_login(member(customer=Customer.objects.get(ref="c1"), username="jane"))
    html = client.get(reverse("balance")).content.decode()
    assert "You owe 10.00 USD: top up to renew." in html
    client.force_login(member(reseller=Customer.objects.get(ref="c1").reseller, username="acme"))
    assert "owes 10.00" in client.get(reverse("reseller-customers")).content.decode()

    # The next cycle's window opens: the sweep renews nothing (the card is not charged either)
    report = run(D(2027, 1, 3))
    assert [(b["outcome"], b["reason"]) for b in report["batches"]] == [("failed", "insufficient_funds")]
    assert len(intents_of()) == 1  # the top-up's only
    assert Order.objects.get().expires_on == D(2027, 1, 10)
    # nor a manual renewal by card
    quote = renewal_quote(actor=customer_actor(), items=[(Order.objects.get().pk, 1)])
    with pytest.raises(InsufficientFunds, match=r"owes 10\.00 USD"):
        renewal_pay(actor=customer_actor(), quote=quote, payment="card")
    assert len(intents_of()) == 1

    # Until a top-up brings it back above the limit
    top_up("20.00")
    acct = account()
    assert (acct.balance, acct.overdrawn, acct.owes) == (M("10.00"), M("0.00"), M("0.00"))
    report = run(D(2027, 1, 4))
    assert [(b["outcome"], b["total"]) for b in report["batches"]] == [("renewed", "10.00")]
    assert Order.objects.get().expires_on == D(2027, 2, 10)
    assert "You owe" not in client.get(reverse("balance")).content.decode()
    assert_invariants()


def test_the_operators_are_mailed_each_movement_once_and_after_smtp_comes_back(client, topped_up, smtp):
    refund = refund_at_stripe(topped_up, 1000)
    refunded(client, topped_up, "evt_r1")
    deliver(client, payload("evt_d1", "charge.dispute.created", dispute(topped_up, "needs_response", amount=2000)))
    smtp.down()
    assert deliver_notices()["movements_alerted"] == 0  # the mail server refused: kept for the next pass
    assert ProcessorMovement.objects.filter(alerted_at__isnull=True).count() == 2
    smtp.up()
    assert deliver_notices()["movements_alerted"] == 2
    assert deliver_notices()["movements_alerted"] == 0
    [message] = smtp.inbox.messages
    assert message["To"] == "ops@example.test"
    assert message["Subject"].endswith("2 card refunds or disputes reached the ledger")
    body = message.get_payload(decode=True).decode()
    assert f"Refund {refund.id} of 10.00 USD (at the processor): c1 (Jane)" in body
    assert "Dispute (funds withdrawn) dp_1 of 20.00 USD (at the processor): c1 (Jane)" in body
    assert "now owes" not in body  # 30.00 - 10.00 - 20.00: at the limit, not below


def test_a_movement_that_takes_the_account_below_its_limit_says_what_it_owes(client, topped_up, run):
    run(ON)  # 10.00 spent
    deliver(client, payload("evt_d1", "charge.dispute.created", dispute(topped_up, "needs_response")))
    assert movements_alert() == 1
    [message] = mail.outbox
    assert message.subject.endswith("Dispute (funds withdrawn): 30.00 USD on c1's card payment")
    assert "the account now owes 10.00 USD" in message.body


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_events_of_one_dispute_at_once_post_it_once(topped_up, assert_invariants):
    created = payload("evt_d1", "charge.dispute.created", dispute(topped_up, "needs_response"))
    closed = payload("evt_d2", "charge.dispute.closed", dispute(topped_up, "lost"))
    results = run_concurrently(
        [lambda body=body: webhook_handle(payload=body, signature=sign(body)) for body in (created, closed)]
    )
    assert sorted(results) == ["dispute dp_1 already recorded", "dispute dp_1 of 30.00 USD recorded"]
    assert entries() == [("dispute", M("-30.00"), "dp_1")]
    assert_invariants()


def test_a_refund_of_a_sweep_charge_whose_reply_was_lost_is_recorded(portal, stripe_on, settings, client, reply_lost):
    """Stripe may send a refund before reconciliation matched the charge (no
    intent id stored yet): the intent's metadata names the attempt."""
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    customer = {"ref": "c1", "name": "Jane", "email": "j@x.test", "reseller": "r1", "balance": "0.00"}
    portal([order("o1", PAID_THRU, payment_source="card")], customers=[customer])
    save_card(GOOD)
    from renewals.sweep.run import sweep_run

    with reply_lost():
        sweep_run(on=ON)
    attempt = PaymentAttempt.objects.get()
    assert (attempt.state, attempt.stripe_payment_intent_id) == (AttemptState.UNKNOWN, "")
    [intent] = intents_of()
    stripe_client().Refund.create(payment_intent=intent.id)
    charge_id = intent.latest_charge if isinstance(intent.latest_charge, str) else intent.latest_charge.id
    charge = stripe_client().Charge.retrieve(charge_id).to_dict()
    answer = deliver(client, payload("evt_refund", "charge.refunded", charge))
    assert "recorded" in answer
    attempt.refresh_from_db()
    assert attempt.stripe_payment_intent_id == intent.id
    assert [(kind, amount) for kind, amount, _ref in entries()] == [("refund", M("-10.00"))]
