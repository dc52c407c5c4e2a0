"""The card processor down, slow or answering an error (SPEC "Faults and bad
data"), against the real localstripe with faults injected at the SDK's
transport: no attempt stays pending, a hold is released or kept for
reconciliation, nothing is charged twice."""

import datetime
from decimal import Decimal

import pytest
import requests
import stripe
import time_machine
from django.utils import timezone

from balances.models import Account, LedgerEntry
from core.models import Fault, Stage
from invoices.models import InvoiceLine
from notifications.models import Notice
from orders.models import Order
from payments.charges import payment_attempts_reconcile
from payments.gateway import stripe_client
from payments.models import AttemptState, PaymentAttempt
from payments.services import card_add, top_up_by_card
from renewals.facts import held_orders
from renewals.sweep.run import sweep_run
from tenants.scope import Actor, ActorKind
from tests.factories import CustomerFactory
from tests.payments.conftest import confirming, creating, everything
from tests.payments.test_card_renewals import ON, account, intents_of, save_card
from tests.payments.test_cards import GOOD, tokenise
from tests.renewals.conftest import order

D = datetime.date
PAID_THRU, RENEWED = D(2026, 12, 10), D(2027, 1, 10)


def later(**delta):
    """Past the reconcile delay (5 minutes) unless told otherwise."""
    return time_machine.travel(timezone.now() + datetime.timedelta(**(delta or {"minutes": 6})), tick=True)


@pytest.fixture
def shortfall(portal, stripe_on):
    """c1 owes 20.00 for o1 and o2 with 5.00 on the balance: the sweep holds
    the 5.00 and charges 15.00 to the card, off-session."""
    customer = {"ref": "c1", "name": "Jane", "email": "j@x.test", "reseller": "r1", "balance": "5.00"}
    portal([order("o1", PAID_THRU), order("o2", PAID_THRU)], customers=[customer])
    save_card(GOOD)


def batches(report) -> list[tuple]:
    return [(b["outcome"], b["reason"]) for b in report.batches]


def expiries() -> set:
    return set(Order.objects.values_list("expires_on", flat=True))


def money(ref: str = "c1") -> tuple:
    acc = account(ref)
    return acc.balance, acc.held


def test_every_stripe_request_carries_the_connect_and_read_timeouts(stripe_on, monkeypatch):
    seen = []
    real_request = requests.Session.request

    def recording(self, method, url, **kwargs):
        seen.append(kwargs.get("timeout"))
        return real_request(self, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", recording)
    stripe_client().Customer.create(name="t")
    stripe_client().PaymentIntent.list(limit=1)
    assert seen == [(10, 30), (10, 30)]


# --- the nightly sweep's off-session charge -----------------------------------


@pytest.mark.django_db
def test_the_sweep_charges_off_session_in_one_request(shortfall, monkeypatch):
    sent = []
    real_request = stripe.RequestsClient.request

    def recording(self, method, url, headers, post_data=None):
        if "payment_intents" in url:
            sent.append((method, url.split("/v1/")[1], requests.utils.unquote(post_data or "").split("&")))
        return real_request(self, method, url, headers, post_data)

    monkeypatch.setattr(stripe.RequestsClient, "request", recording)
    sweep_run(on=ON)
    attempt = PaymentAttempt.objects.get()
    [(method, path, fields)] = sent
    assert (method, path) == ("post", "payment_intents")
    assert {"off_session=true", "confirm=true", f"metadata[attempt]={attempt.pk}"} <= set(fields)
    assert attempt.state == AttemptState.SUCCEEDED
    assert expiries() == {RENEWED}


@pytest.mark.django_db
def test_a_refused_off_session_charge_fails_the_batch_and_releases_the_hold(shortfall, stripe_fault, assert_invariants):
    with stripe_fault("invalid", on=creating) as hits:
        report = sweep_run(on=ON)
    assert len(hits) == 1
    assert batches(report) == [("failed", "card_declined")]
    attempt = PaymentAttempt.objects.get()
    assert (attempt.state, attempt.error) == (AttemptState.FAILED, "Amount must be at least $0.50 usd")
    assert money() == (Decimal("5.00"), Decimal("0.00"))
    assert expiries() == {PAID_THRU}
    assert intents_of() == []
    notice = Notice.objects.get(kind="renewal_failed")
    assert "Amount must be at least $0.50 usd" in notice.rendered().text
    assert payment_attempts_reconcile() == {"settled": 0, "still_unknown": 0}
    assert_invariants()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fault", "served"),
    [
        pytest.param("server_error", False, id="500, nothing done"),
        pytest.param("server_error", True, id="500 after the charge"),
        pytest.param("timeout", True, id="read timeout after the charge"),
        pytest.param("down", False, id="connection refused"),
    ],
)
def test_no_answer_to_an_off_session_charge_keeps_the_hold_until_reconciliation_settles_it(
    shortfall, stripe_fault, fault, served, assert_invariants
):
    with stripe_fault(fault, on=creating, served=served):
        report = sweep_run(on=ON)
    assert batches(report) == [("pending", "payment_unknown")]
    attempt = PaymentAttempt.objects.get()
    assert (attempt.state, attempt.stripe_payment_intent_id) == (AttemptState.UNKNOWN, "")
    assert money() == (Decimal("5.00"), Decimal("5.00"))  # the balance part stays held
    if served:
        # Found by the attempt id in the intent's metadata, settled once.
        assert payment_attempts_reconcile() == {"settled": 1, "still_unknown": 0}
        assert [(i.status, i.amount) for i in intents_of()] == [("succeeded", 1500)]
        assert expiries() == {RENEWED}
        assert InvoiceLine.objects.count() == 2
        assert money() == (Decimal("0.00"), Decimal("0.00"))
    else:
        # No intent carries its id, but its create may still be on its way.
        assert payment_attempts_reconcile() == {"settled": 0, "still_unknown": 1}
        with later():
            assert payment_attempts_reconcile() == {"settled": 1, "still_unknown": 0}
        assert intents_of() == []
        assert PaymentAttempt.objects.get().state == AttemptState.FAILED
        assert expiries() == {PAID_THRU}
        assert money() == (Decimal("5.00"), Decimal("0.00"))
        assert Notice.objects.filter(kind="renewal_failed").count() == 1
    assert payment_attempts_reconcile() == {"settled": 0, "still_unknown": 0}
    next_night = sweep_run(on=ON + datetime.timedelta(days=1))
    if served:
        assert next_night.batches == []  # renewed: nothing due
        assert len(intents_of()) == 1
    assert not PaymentAttempt.objects.filter(state=AttemptState.PENDING).exists()
    assert_invariants()


@pytest.mark.django_db
def test_a_processor_refusing_the_portals_key_fails_the_batch_as_internal_error_without_blaming_the_customer(
    shortfall, stripe_fault, assert_invariants
):
    with stripe_fault("bad_key", on=creating):
        report = sweep_run(on=ON)
    assert batches(report) == [("failed", "internal_error")]
    attempt = PaymentAttempt.objects.get()
    assert attempt.state == AttemptState.FAILED
    assert money() == (Decimal("5.00"), Decimal("0.00"))
    assert not Notice.objects.filter(kind__in=["renewal_failed", "reseller_failure"]).exists()
    fault = Fault.objects.get()
    assert (fault.stage, fault.subject, fault.orders) == (Stage.CARD, f"attempt:{attempt.pk}", ["o1", "o2"])
    assert "Invalid API Key provided" in fault.error
    assert set(held_orders().values_list("ref", flat=True)) == {"o1", "o2"}  # not suspended meanwhile
    assert_invariants()


class Killed(BaseException):
    """The process dies (SIGKILL): nothing after this line runs."""


@pytest.mark.django_db
@pytest.mark.parametrize("charged", [True, False], ids=["killed after the charge", "killed before it"])
def test_an_attempt_left_pending_by_a_crash_is_settled_by_reconciliation_once(
    shortfall, monkeypatch, charged, assert_invariants
):
    real_request = stripe.RequestsClient.request

    def dying(self, method, url, headers, post_data=None):
        if creating(method, url, post_data or ""):
            if charged:
                real_request(self, method, url, headers, post_data)
            raise Killed
        return real_request(self, method, url, headers, post_data)

    monkeypatch.setattr(stripe.RequestsClient, "request", dying)
    with pytest.raises(Killed):
        sweep_run(on=ON)
    monkeypatch.setattr(stripe.RequestsClient, "request", real_request)
    assert PaymentAttempt.objects.get().state == AttemptState.PENDING
    # Minutes later nobody is charging it any more: reconciliation takes it.
    assert payment_attempts_reconcile() == {"settled": 0, "still_unknown": 0}  # too young: may be in flight
    with later():
        assert payment_attempts_reconcile() == {"settled": 1, "still_unknown": 0}
    attempt = PaymentAttempt.objects.get()
    if charged:
        assert attempt.state == AttemptState.SUCCEEDED
        assert expiries() == {RENEWED}
        assert [(i.status, i.amount) for i in intents_of()] == [("succeeded", 1500)]
    else:
        assert attempt.state == AttemptState.FAILED
        assert expiries() == {PAID_THRU}
        assert intents_of() == []
    assert account().held == Decimal("0.00")
    sweep_run(on=ON)  # the interrupted run again: nothing charged twice
    assert len(intents_of()) == (1 if charged else 0)
    assert_invariants()


# --- top-ups: on-session, create then confirm ----------------------------------


@pytest.fixture
def jane(stripe_on):
    customer = CustomerFactory(email="jane@example.test")
    actor = Actor(kind=ActorKind.CUSTOMER, label="jane", customer_id=customer.pk)
    card_add(actor=actor, account_id=customer.pk, payment_method_id=tokenise(GOOD))
    return customer, actor


def intents_for(customer) -> list[tuple]:
    stripe_customer = Account.objects.get(pk=customer.pk).stripe_customer_id
    intents = stripe_client().PaymentIntent.list(limit=100).auto_paging_iter()
    return [(i.status, i.amount) for i in intents if i.customer == stripe_customer]


S, F, U = AttemptState.SUCCEEDED, AttemptState.FAILED, AttemptState.UNKNOWN


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fault", "on", "served", "first", "final", "intents"),
    [
        pytest.param("invalid", creating, False, F, F, [], id="create refused"),
        pytest.param("invalid", confirming, False, F, F, [("requires_confirmation", 4000)], id="confirm refused"),
        pytest.param(
            "invalid", confirming, True, S, S, [("succeeded", 4000)], id="confirm refused, but it had gone through"
        ),
        pytest.param("bad_key", creating, False, F, F, [], id="key refused"),
        pytest.param("server_error", creating, False, U, F, [], id="500 on create"),
        pytest.param("server_error", confirming, False, U, S, [("succeeded", 4000)], id="500 on confirm"),
        pytest.param("server_error", confirming, True, U, S, [("succeeded", 4000)], id="500 after the confirm"),
        pytest.param("timeout", confirming, True, U, S, [("succeeded", 4000)], id="timeout after the confirm"),
        pytest.param("down", everything, False, U, F, [], id="processor down"),
    ],
)
def test_a_top_up_against_a_failing_processor_never_stays_pending_nor_credits_twice(
    jane, stripe_fault, fault, on, served, first, final, intents, assert_invariants
):
    customer, actor = jane
    with stripe_fault(fault, on=on, served=served):
        attempt = top_up_by_card(actor=actor, account_id=customer.pk, amount=Decimal("40.00"))
    assert attempt.state == first
    with later():
        payment_attempts_reconcile()
    attempt.refresh_from_db()
    assert attempt.state == final
    assert intents_for(customer) == intents
    credits = list(LedgerEntry.objects.filter(kind="card_top_up").values_list("amount", flat=True))
    assert credits == ([Decimal("40.00")] if final == S else [])
    assert_invariants()


@pytest.mark.django_db
def test_an_unexpected_error_while_charging_leaves_the_attempt_to_reconciliation(jane, monkeypatch, assert_invariants):
    """A bug in settling a charge that succeeded: the attempt is unknown (not
    pending), a fault is recorded, and reconciliation settles it once."""
    customer, actor = jane
    with monkeypatch.context() as patch:
        patch.setattr("payments.settlement.ledger_post", _raises(RuntimeError("ledger offline")))
        attempt = top_up_by_card(actor=actor, account_id=customer.pk, amount=Decimal("40.00"))
    assert attempt.state == AttemptState.UNKNOWN
    assert "RuntimeError: ledger offline" in attempt.error
    fault = Fault.objects.get()
    assert (fault.stage, fault.subject) == (Stage.CARD, f"attempt:{attempt.pk}")
    assert payment_attempts_reconcile() == {"settled": 1, "still_unknown": 0}
    assert intents_for(customer) == [("succeeded", 4000)]
    assert LedgerEntry.objects.get(kind="card_top_up").amount == Decimal("40.00")
    assert_invariants()


def _raises(error):
    def raiser(*args, **kwargs):
        raise error

    return raiser


# --- reconciliation: each attempt on its own ----------------------------------


@pytest.mark.django_db
def test_one_attempt_failing_to_reconcile_never_stops_the_others(stripe_on, reply_lost, monkeypatch):
    ann, bob = CustomerFactory(), CustomerFactory()
    attempts = {}
    for customer in (ann, bob):
        actor = Actor(kind=ActorKind.CUSTOMER, label="c", customer_id=customer.pk)
        card_add(actor=actor, account_id=customer.pk, payment_method_id=tokenise(GOOD))
        with reply_lost():
            attempts[customer.pk] = top_up_by_card(actor=actor, account_id=customer.pk, amount=Decimal("30.00"))
    from balances import services as balances_services

    real_post = balances_services.ledger_post

    def post_failing_for_ann(**kwargs):
        if kwargs["account_id"] == ann.pk:
            raise RuntimeError("ann's ledger is broken")
        return real_post(**kwargs)

    monkeypatch.setattr("payments.settlement.ledger_post", post_failing_for_ann)
    assert payment_attempts_reconcile() == {"settled": 1, "still_unknown": 1}
    states = dict(PaymentAttempt.objects.values_list("account_id", "state"))
    assert states == {ann.pk: AttemptState.UNKNOWN, bob.pk: AttemptState.SUCCEEDED}
    fault = Fault.objects.get()
    assert (fault.stage, fault.subject, fault.customer_id) == (
        Stage.RECONCILIATION,
        f"attempt:{attempts[ann.pk].pk}",
        ann.pk,
    )
    assert "ann's ledger is broken" in fault.error
    monkeypatch.setattr("payments.settlement.ledger_post", real_post)  # fixed: the next pass settles it
    assert payment_attempts_reconcile() == {"settled": 1, "still_unknown": 0}
    assert LedgerEntry.objects.filter(kind="card_top_up").count() == 2


@pytest.mark.django_db
def test_reconciliation_stops_at_the_first_connection_failure_and_says_so_once(stripe_on, reply_lost, stripe_fault):
    customers = [CustomerFactory() for _ in range(3)]
    for customer in customers:
        actor = Actor(kind=ActorKind.CUSTOMER, label="c", customer_id=customer.pk)
        card_add(actor=actor, account_id=customer.pk, payment_method_id=tokenise(GOOD))
        with reply_lost():
            top_up_by_card(actor=actor, account_id=customer.pk, amount=Decimal("30.00"))
    with stripe_fault("down", on=everything) as hits:
        assert payment_attempts_reconcile() == {"settled": 0, "still_unknown": 3}
        assert payment_attempts_reconcile() == {"settled": 0, "still_unknown": 3}
    assert len(hits) == 2  # one request a pass: the others wait for the next pass
    fault = Fault.objects.get()
    assert (fault.stage, fault.subject, fault.occurrences) == (Stage.RECONCILIATION, "processor:stripe", 2)
    assert payment_attempts_reconcile() == {"settled": 3, "still_unknown": 0}  # back up
