"""The card path of the nightly sweep against a real localstripe: one charge
per batch, all or nothing, never a second charge."""

import datetime
import json
from decimal import Decimal

import pytest

from balances.models import Account, LedgerEntry
from core.errors import DomainError
from invoices.models import Invoice, InvoiceLine
from notifications.models import Notice
from orders.models import Order
from payments.charges import payment_attempts_reconcile
from payments.gateway import stripe_client
from payments.models import AttemptState, PaymentAttempt
from payments.services import card_add
from renewals.manual import renewal_pay, renewal_quote
from renewals.sweep.run import sweep_run
from tenants.models import Customer
from tenants.scope import Actor, ActorKind
from tests.helpers import run_concurrently
from tests.payments.test_cards import DECLINES_AT_CHARGE, GOOD, tokenise
from tests.renewals.conftest import order

D = datetime.date
ON = D(2026, 12, 5)


def save_card(number: str, ref: str = "c1") -> None:
    customer = Customer.objects.get(ref=ref)
    actor = Actor(kind=ActorKind.CUSTOMER, label=ref, customer_id=customer.pk)
    card_add(actor=actor, account_id=customer.pk, payment_method_id=tokenise(number))


def account(ref: str = "c1") -> Account:
    return Account.objects.get(customer__ref=ref)


def intents_of(ref: str = "c1") -> list:
    customer_id = account(ref).stripe_customer_id
    # Every page: localstripe lists the oldest first and filters by nothing,
    # so after a long session the first 100 no longer hold this test's.
    intents = stripe_client().PaymentIntent.list(limit=100).auto_paging_iter()
    return [i for i in intents if i.customer == customer_id]


@pytest.fixture
def portal_with(portal, stripe_on):
    def load(balance: str, orders: list):
        portal(
            orders, customers=[{"ref": "c1", "name": "Jane", "email": "j@x.test", "reseller": "r1", "balance": balance}]
        )

    return load


@pytest.mark.django_db
def test_a_card_sourced_order_is_charged_to_the_card(portal_with, assert_invariants):
    portal_with("0.00", [order("o1", D(2026, 12, 10), payment_source="card")])
    save_card(GOOD)
    report = sweep_run(on=ON)
    assert [(b["outcome"], b["reason"], b["total"]) for b in report.batches] == [("renewed", None, "10.00")]
    assert Order.objects.get().expires_on == D(2027, 1, 10)
    assert [(i.status, i.amount) for i in intents_of()] == [("succeeded", 1000)]
    kinds = list(LedgerEntry.objects.order_by("pk").values_list("kind", "amount"))
    assert kinds == [("card_top_up", Decimal("10.00")), ("renewal", Decimal("-10.00"))]
    assert (account().balance, account().held) == (Decimal("0.00"), Decimal("0.00"))
    assert PaymentAttempt.objects.get().state == AttemptState.SUCCEEDED
    assert_invariants()


@pytest.mark.django_db
def test_a_balance_shortfall_is_topped_up_from_the_card_in_one_charge(portal_with, assert_invariants):
    portal_with("5.00", [order("o1", D(2026, 12, 10)), order("o2", D(2026, 12, 10))])
    save_card(GOOD)
    report = sweep_run(on=ON)
    assert [(b["outcome"], b["total"]) for b in report.batches] == [("renewed", "20.00")]
    assert [(i.status, i.amount) for i in intents_of()] == [("succeeded", 1500)]  # 20.00 less the 5.00 balance
    text = Notice.objects.get(kind="renewal_succeeded").rendered().text
    assert "We charged 15.00 USD to your card visa •••• 4242 and added it to your balance" in text
    assert "the renewal, 20.00 USD, was then paid from your balance" in text
    assert account().balance == Decimal("0.00")
    assert Invoice.objects.get().total == Decimal("20.00")
    assert_invariants()


@pytest.mark.django_db
def test_a_decline_at_charge_fails_the_whole_batch_with_nothing_changed(portal_with, assert_invariants):
    portal_with("5.00", [order("o1", D(2026, 12, 10)), order("o2", D(2026, 12, 10), payment_source="card")])
    save_card(DECLINES_AT_CHARGE)
    report = sweep_run(on=ON)
    assert [(b["outcome"], b["reason"]) for b in report.batches] == [("failed", "card_declined")]
    assert {o["outcome"] for o in report.orders} == {"failed"}
    assert set(Order.objects.values_list("expires_on", flat=True)) == {D(2026, 12, 10)}
    assert (account().balance, account().held) == (Decimal("5.00"), Decimal("0.00"))
    assert not Invoice.objects.exists()
    assert list(LedgerEntry.objects.values_list("kind", flat=True)) == ["opening"]
    notice = Notice.objects.get(kind="renewal_failed")
    assert "Your card was declined." in notice.rendered().text
    sweep_run(on=ON + datetime.timedelta(days=1))  # declined again the next night: no second notice
    assert sorted(Notice.objects.values_list("kind", flat=True)) == ["renewal_failed", "reseller_failure"]
    sweep_run(on=D(2026, 12, 10))  # and on the expiry day, the last chance
    assert Notice.objects.filter(kind__in=["renewal_last_chance", "reseller_failure"]).count() == 3
    assert_invariants()


@pytest.mark.django_db
def test_a_lost_reply_then_reconciliation_makes_exactly_one_charge_and_one_renewal(
    portal_with, reply_lost, assert_invariants
):
    portal_with("5.00", [order("o1", D(2026, 12, 10)), order("o2", D(2026, 12, 10))])
    save_card(GOOD)
    with reply_lost():
        report = sweep_run(on=ON)
    assert [(b["outcome"], b["reason"]) for b in report.batches] == [("pending", "payment_unknown")]
    assert set(Order.objects.values_list("expires_on", flat=True)) == {D(2026, 12, 10)}  # nothing renewed
    assert account().held == Decimal("5.00")  # the balance part stays reserved
    # The next night the orders wait for the payment in flight: no second charge.
    next_night = sweep_run(on=ON + datetime.timedelta(days=1))
    assert {(o["outcome"], o["reason"]) for o in next_night.orders} == {("pending", "payment_unknown")}
    # Nor may the customer renew them by hand meanwhile.
    jane = Actor(kind=ActorKind.CUSTOMER, label="jane", customer_id=account().pk)
    with pytest.raises(DomainError, match="order o1: a card payment for its renewal is in progress"):
        renewal_quote(actor=jane, items=[(Order.objects.get(ref="o1").pk, 1)])
    assert payment_attempts_reconcile() == {"settled": 1, "still_unknown": 0}
    assert [(i.status, i.amount) for i in intents_of()] == [("succeeded", 1500)]
    assert InvoiceLine.objects.count() == 2
    assert set(Order.objects.values_list("expires_on", flat=True)) == {D(2027, 1, 10)}
    assert (account().balance, account().held) == (Decimal("0.00"), Decimal("0.00"))
    assert_invariants()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_racing_on_a_card_batch_charge_once(portal_with, settings, assert_invariants):
    settings.SWEEP_POOL = "threads"
    portal_with("0.00", [order("o1", D(2026, 12, 10), payment_source="card")])
    save_card(GOOD)
    results = run_concurrently([lambda: sweep_run(on=ON), lambda: sweep_run(on=ON)])
    assert not [r for r in results if isinstance(r, Exception)]
    assert [(i.status, i.amount) for i in intents_of()] == [("succeeded", 1000)]
    assert PaymentAttempt.objects.count() == 1
    assert InvoiceLine.objects.count() == 1
    assert_invariants()


@pytest.mark.django_db
def test_a_card_that_needs_authentication_fails_the_batch_and_asks_for_the_browser(portal_with, assert_invariants):
    portal_with("0.00", [order("o1", D(2026, 12, 10), payment_source="card")])
    save_card("4000002500003155")
    report = sweep_run(on=ON)
    assert [(b["outcome"], b["reason"]) for b in report.batches] == [("failed", "card_declined")]
    assert Order.objects.get().expires_on == D(2026, 12, 10)
    notice = Notice.objects.get(kind="renewal_failed")
    assert "the card needs your authentication: pay in the browser" in notice.rendered().text
    assert "Renew in the browser to confirm the payment" in notice.rendered().text
    assert (account().balance, account().held) == (Decimal("0.00"), Decimal("0.00"))
    assert_invariants()


@pytest.mark.django_db
def test_a_manual_batch_renewal_paid_by_card(portal_with, assert_invariants):
    portal_with(
        "0.00", [order("o1", D(2026, 12, 10), auto_renew=False), order("o2", D(2026, 12, 20), auto_renew=False)]
    )
    save_card(GOOD)
    jane = Actor(kind=ActorKind.CUSTOMER, label="jane", customer_id=account().pk)
    ids = {o.ref: o.pk for o in Order.objects.all()}
    quote = renewal_quote(actor=jane, items=[(ids["o1"], 1), (ids["o2"], 3)])
    invoice = renewal_pay(actor=jane, quote=quote, payment="card", auto_renew_next={ids["o2"]}, on=ON)
    assert (invoice.total, invoice.source, invoice.lines.count()) == (Decimal("37.00"), "manual", 2)
    assert [(i.status, i.amount) for i in intents_of()] == [("succeeded", 3700)]
    assert account().balance == Decimal("0.00")
    assert dict(Order.objects.values_list("ref", "expires_on")) == {"o1": D(2027, 1, 10), "o2": D(2027, 3, 20)}
    assert Order.objects.get(ref="o2").auto_renew is True
    assert_invariants()


@pytest.mark.django_db
def test_a_manual_renewal_with_a_declined_card_changes_nothing(portal_with, assert_invariants):
    portal_with("50.00", [order("o1", D(2026, 12, 10), auto_renew=False)])
    save_card(DECLINES_AT_CHARGE)
    jane = Actor(kind=ActorKind.CUSTOMER, label="jane", customer_id=account().pk)
    quote = renewal_quote(actor=jane, items=[(Order.objects.get().pk, 1)])
    with pytest.raises(DomainError, match="the card was not charged: Your card was declined."):
        renewal_pay(actor=jane, quote=quote, payment="card", on=ON)
    assert Order.objects.get().expires_on == D(2026, 12, 10)
    assert (account().balance, account().held) == (Decimal("50.00"), Decimal("0.00"))
    assert not Invoice.objects.exists()
    assert_invariants()


@pytest.mark.django_db
def test_asking_to_switch_on_a_locked_auto_renew_is_refused_before_the_card_is_charged(portal_with):
    portal_with("0.00", [order("o1", D(2026, 12, 10), auto_renew=False, auto_renew_locked=True)])
    save_card(GOOD)
    jane = Actor(kind=ActorKind.CUSTOMER, label="jane", customer_id=account().pk)
    o1 = Order.objects.get()
    quote = renewal_quote(actor=jane, items=[(o1.pk, 1)])
    with pytest.raises(DomainError, match="your reseller locked the auto-renew switch"):
        renewal_pay(actor=jane, quote=quote, payment="card", auto_renew_next={o1.pk}, on=ON)
    assert intents_of() == []  # nothing charged
    assert Order.objects.get().expires_on == D(2026, 12, 10)
    renewal_pay(actor=jane, quote=quote, payment="card", on=ON)  # without the switch: renewed
    assert Order.objects.get().expires_on == D(2027, 1, 10)


def deliver_twice(client, payload: bytes) -> list[str]:
    """A webhook delivered, then retried by Stripe."""
    from django.urls import reverse

    from tests.payments.test_webhooks import sign

    answers = []
    for _ in range(2):
        signature = sign(payload)
        response = client.post(
            reverse("stripe-webhook"), data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
        assert response.status_code == 200
        answers.append(response.content.decode())
    return answers


@pytest.mark.django_db
def test_a_webhook_settles_a_pending_manual_card_renewal_once(
    portal_with, reply_lost, settings, client, assert_invariants
):
    """On-session (create, store the id, confirm): a lost confirm reply leaves
    the attempt unknown with its intent id, which the webhook matches."""
    from tests.payments.test_webhooks import SECRET, event

    settings.STRIPE_WEBHOOK_SECRET = SECRET
    portal_with("0.00", [order("o1", D(2026, 12, 10), auto_renew=False)])
    save_card(GOOD)
    jane = Actor(kind=ActorKind.CUSTOMER, label="jane", customer_id=account().pk)
    quote = renewal_quote(actor=jane, items=[(Order.objects.get().pk, 1)])
    with reply_lost(), pytest.raises(DomainError, match="the card payment's outcome is not known yet"):
        renewal_pay(actor=jane, quote=quote, payment="card", on=ON)
    attempt = PaymentAttempt.objects.get()
    assert attempt.state == AttemptState.UNKNOWN
    assert attempt.stripe_payment_intent_id == intents_of()[0].id
    answers = deliver_twice(client, event(attempt.stripe_payment_intent_id, event_id="evt_renewal"))
    assert answers == [f"attempt {attempt.pk} settled", "event evt_renewal already processed"]
    assert Order.objects.get().expires_on == D(2027, 1, 10)
    assert InvoiceLine.objects.count() == 1
    assert list(LedgerEntry.objects.order_by("pk").values_list("kind", flat=True)) == ["card_top_up", "renewal"]
    assert payment_attempts_reconcile() == {"settled": 0, "still_unknown": 0}  # nothing left to settle
    assert_invariants()


@pytest.mark.django_db
def test_a_lost_off_session_reply_is_found_by_the_attempt_id_and_a_later_webhook_changes_nothing(
    portal_with, reply_lost, settings, client, assert_invariants
):
    """Off-session (one create-and-confirm request): a lost reply leaves no
    intent id here; reconciliation finds the intent by the attempt id in its
    metadata and settles it; Stripe's webhook for it then settles nothing again."""
    from tests.payments.test_webhooks import SECRET, event

    settings.STRIPE_WEBHOOK_SECRET = SECRET
    portal_with("0.00", [order("o1", D(2026, 12, 10), payment_source="card")])
    save_card(GOOD)
    with reply_lost():
        sweep_run(on=ON)
    attempt = PaymentAttempt.objects.get()
    assert (attempt.state, attempt.stripe_payment_intent_id) == (AttemptState.UNKNOWN, "")
    [intent] = intents_of()
    assert (intent.status, intent.metadata["attempt"]) == ("succeeded", str(attempt.pk))
    assert payment_attempts_reconcile() == {"settled": 1, "still_unknown": 0}
    attempt.refresh_from_db()
    assert (attempt.state, attempt.stripe_payment_intent_id) == (AttemptState.SUCCEEDED, intent.id)
    answers = deliver_twice(client, event(intent.id, event_id="evt_renewal"))
    assert answers == [f"attempt {attempt.pk} was already settled", "event evt_renewal already processed"]
    assert Order.objects.get().expires_on == D(2027, 1, 10)
    assert InvoiceLine.objects.count() == 1
    assert list(LedgerEntry.objects.order_by("pk").values_list("kind", flat=True)) == ["card_top_up", "renewal"]
    assert LedgerEntry.objects.get(kind="card_top_up").reference == intent.id
    assert [(i.status, i.amount) for i in intents_of()] == [("succeeded", 1000)]
    assert_invariants()


@pytest.mark.django_db
def test_a_webhook_settles_a_lost_off_session_reply_by_the_attempt_id_in_its_metadata(
    portal_with, reply_lost, settings, client, assert_invariants
):
    """Stripe's webhook may come before reconciliation: it finds the attempt
    by the attempt id the intent carries (for the same Stripe customer), not
    by an id we never stored; an event naming another customer, or no
    intent id at all, settles nothing."""
    from tests.payments.test_webhooks import SECRET

    settings.STRIPE_WEBHOOK_SECRET = SECRET
    portal_with("0.00", [order("o1", D(2026, 12, 10), payment_source="card")])
    save_card(GOOD)
    with reply_lost():
        sweep_run(on=ON)
    attempt = PaymentAttempt.objects.get()
    [intent] = intents_of()

    def succeeded(event_id: str, **object_fields) -> bytes:
        body = {"id": event_id, "object": "event", "type": "payment_intent.succeeded",
                "data": {"object": {"object": "payment_intent", "status": "succeeded", **object_fields}}}  # fmt: skip
        return json.dumps(body).encode()

    stranger = succeeded("evt_a", id=intent.id, customer="cus_someone_else", metadata={"attempt": str(attempt.pk)})
    nameless = succeeded("evt_b", id="", customer=intent.customer, metadata={"attempt": str(attempt.pk)})
    assert deliver_twice(client, stranger)[0] == f"no attempt for {intent.id}"
    assert deliver_twice(client, nameless)[0] == "no attempt for an intent without an id"
    assert PaymentAttempt.objects.get().state == AttemptState.UNKNOWN
    real = succeeded("evt_c", id=intent.id, customer=intent.customer, metadata={"attempt": str(attempt.pk)})
    assert deliver_twice(client, real) == [f"attempt {attempt.pk} settled", "event evt_c already processed"]
    attempt.refresh_from_db()
    assert (attempt.state, attempt.stripe_payment_intent_id) == (AttemptState.SUCCEEDED, intent.id)
    assert payment_attempts_reconcile() == {"settled": 0, "still_unknown": 0}
    assert Order.objects.get().expires_on == D(2027, 1, 10)
    assert [(i.status, i.amount) for i in intents_of()] == [("succeeded", 1000)]
    assert_invariants()


@pytest.mark.django_db
def test_a_sweep_charge_whose_renewal_cannot_be_written_stays_on_the_balance(portal_with, reply_lost,
                                                                             assert_invariants):  # fmt: skip
    from core.models import Fault
    from renewals.models import BatchAttempt

    portal_with("0.00", [order("o1", D(2026, 12, 10), payment_source="card")])
    save_card(GOOD)
    with reply_lost():
        sweep_run(on=ON)  # charged at Stripe; the reply lost
    Order.objects.filter(ref="o1").update(expires_on=D(2026, 12, 12))  # a hand edit while the charge was in flight
    payment_attempts_reconcile()
    assert PaymentAttempt.objects.get().state == AttemptState.SUCCEEDED
    assert not InvoiceLine.objects.exists()
    assert (account().balance, account().held) == (Decimal("10.00"), Decimal("0.00"))  # paid for: never lost
    assert list(LedgerEntry.objects.values_list("kind", flat=True)) == ["card_top_up"]
    assert BatchAttempt.objects.get().reason == "internal_error"
    assert Fault.objects.get().stage == "card"
    # The customer is told where the money is (and not blamed for a failure).
    notice = Notice.objects.get(kind="payment_credited")
    assert "is on your balance: nothing is lost" in notice.rendered().text
    assert not Notice.objects.filter(kind__in=["renewal_failed", "renewal_last_chance"]).exists()
    assert [(i.status, i.amount) for i in intents_of()] == [("succeeded", 1000)]
    assert_invariants()


@pytest.mark.django_db
def test_a_manual_card_renewal_that_cannot_be_written_says_the_money_is_on_the_balance(portal_with, monkeypatch,
                                                                                       assert_invariants):  # fmt: skip
    from renewals import settlement

    portal_with("0.00", [order("o1", D(2026, 12, 10))])
    save_card(GOOD)
    jane = Actor(kind=ActorKind.CUSTOMER, label="c1", customer_id=Customer.objects.get(ref="c1").pk)
    quote = renewal_quote(actor=jane, items=[(Order.objects.get().pk, 1)])

    def broken(*args, **kwargs):
        raise RuntimeError("injected fault while writing the renewal")

    monkeypatch.setattr(settlement, "write_renewals", broken)
    with pytest.raises(DomainError, match="the amount is on your balance") as refused:
        renewal_pay(actor=jane, quote=quote, payment="card", on=ON)
    assert refused.value.code == "renewal_not_completed"
    assert account().balance == Decimal("10.00")
    assert not Invoice.objects.exists()
    assert_invariants()
