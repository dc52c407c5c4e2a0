"""Attempts nobody could settle: reconciliation every 5 minutes and nightly
(never stopping the sweep), the 3-day flag for the operators, and their
decision in the admin (SPEC "Faults and bad data")."""

import datetime
import zoneinfo
from decimal import Decimal

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from audit.models import AuditEvent
from core.errors import DomainError
from core.isolation import faults_alert
from core.models import Fault, Stage
from invoices.models import InvoiceLine
from orders.models import Order
from payments.charges import payment_attempt_decide, payment_attempts_reconcile
from payments.models import AttemptState, PaymentAttempt
from payments.selectors import attempts_awaiting_decision
from payments.tasks import reconcile_payments
from renewals.models import BatchAttempt
from renewals.sweep.run import sweep_run
from renewals.tasks import nightly_run
from tenants.scope import Actor
from tests.factories import UserFactory
from tests.payments.conftest import everything
from tests.payments.test_card_renewals import ON, account, intents_of, save_card
from tests.payments.test_cards import GOOD
from tests.renewals.conftest import order

D = datetime.date
PAID_THRU, RENEWED = D(2026, 12, 10), D(2027, 1, 10)
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _at_noon():
    """The clock at noon (running on): "2 days 23 hours later" and "3 days 1
    hour later" then fall on one business date, whatever the hour the suite
    runs at."""
    with time_machine.travel(datetime.datetime(2026, 12, 5, 12, tzinfo=datetime.UTC), tick=True):
        yield


def later(**delta):
    return time_machine.travel(timezone.now() + datetime.timedelta(**delta), tick=True)


@pytest.fixture
def unknown(portal, stripe_on, reply_lost):
    """c1's card batch (o1 and o2, 15.00 charged at Stripe, 5.00 held) whose
    reply was lost: the attempt is unknown."""
    customer = {"ref": "c1", "name": "Jane", "email": "j@x.test", "reseller": "r1", "balance": "5.00"}
    portal([order("o1", PAID_THRU), order("o2", PAID_THRU)], customers=[customer])
    save_card(GOOD)
    with reply_lost():
        sweep_run(on=ON)
    attempt = PaymentAttempt.objects.get()
    assert attempt.state == AttemptState.UNKNOWN
    return attempt


def test_an_attempt_open_for_three_days_is_flagged_once_a_day_and_its_orders_are_kept(unknown, stripe_fault, settings):
    settings.ADMINS = [("Ops", "ops@example.test")]
    with stripe_fault("down", on=everything):
        with later(days=2, hours=23):
            assert payment_attempts_reconcile() == {"settled": 0, "still_unknown": 1}
            assert not Fault.objects.filter(subject=f"attempt:{unknown.pk}").exists()
        with later(days=3, hours=1):
            for _ in range(2):  # every 5 minutes the same day: one fault
                assert payment_attempts_reconcile() == {"settled": 0, "still_unknown": 1}
            flag = Fault.objects.get(subject=f"attempt:{unknown.pk}")
            assert (flag.stage, flag.occurrences, flag.orders) == (Stage.RECONCILIATION, 2, ["o1", "o2"])
            assert "still open 3 days after it was made" in flag.error
            [awaiting] = attempts_awaiting_decision()
            assert (awaiting.pk, awaiting.flagged) == (unknown.pk, True)
            assert faults_alert() == 2  # the flag and "the processor did not answer", in one mail
            assert faults_alert() == 0
            assert len(mail.outbox) == 1
            assert f"card attempt {unknown.pk} is still open" in mail.outbox[0].body
        # Past the grace period its orders are suspended but never terminated.
        sweep_run(on=D(2026, 12, 27))
    assert set(Order.objects.values_list("status", flat=True)) == {"suspended"}


def test_attempts_awaiting_a_decision_are_the_open_ones_past_the_delay_oldest_first(unknown, stripe_on, reply_lost):
    assert list(attempts_awaiting_decision()) == []  # in flight for all we know
    with later(minutes=6):
        assert [(a.pk, a.flagged) for a in attempts_awaiting_decision()] == [(unknown.pk, False)]
        payment_attempts_reconcile()  # Stripe says it succeeded
        assert list(attempts_awaiting_decision()) == []


# --- the operator's decision ---------------------------------------------------


@pytest.fixture
def ops(client):
    client.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def viewer(client):
    user = UserFactory(username="viewer", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_paymentattempt"))
    client.force_login(user)
    return client


CHANGELIST = "admin:payments_paymentattempt_changelist"


def decide(client, action: str, attempt, **form):
    data = {"action": action, ACTION_CHECKBOX_NAME: [attempt.pk], **form}
    return client.post(reverse(CHANGELIST), data)


def test_an_operator_settles_an_attempt_as_paid_with_a_reason(unknown, ops, assert_invariants):
    [intent] = intents_of()
    with later(days=3, hours=1):
        page = decide(ops, "settle_paid", unknown)
        assert page.status_code == 200
        assert "Check each attempt at Stripe first" in page.content.decode()
        done = decide(ops, "settle_paid", unknown, apply="1", reason="paid at Stripe", payment_intent_id=intent.id)
    assert done.status_code == 302
    attempt = PaymentAttempt.objects.get()
    assert (attempt.state, attempt.stripe_payment_intent_id) == (AttemptState.SUCCEEDED, intent.id)
    assert set(Order.objects.values_list("expires_on", flat=True)) == {RENEWED}
    assert InvoiceLine.objects.count() == 2
    assert BatchAttempt.objects.get().outcome == "renewed"
    assert (account().balance, account().held) == (Decimal("0.00"), Decimal("0.00"))
    event = AuditEvent.objects.get(action="payment_attempt.decide")
    assert (event.actor_label, event.before, event.after) == ("ops", "unknown", "succeeded")
    assert event.reason == "paid at Stripe"
    assert payment_attempts_reconcile() == {"settled": 0, "still_unknown": 0}
    assert [(i.status, i.amount) for i in intents_of()] == [("succeeded", 1500)]  # decided, not charged again
    assert_invariants()


def test_an_operator_settles_an_attempt_as_failed_and_its_hold_and_orders_are_released(unknown, ops, assert_invariants):
    with later(days=3, hours=1):
        done = decide(ops, "settle_failed", unknown, apply="1", reason="refunded at Stripe by hand")
    assert done.status_code == 302
    assert PaymentAttempt.objects.get().state == AttemptState.FAILED
    assert (account().balance, account().held) == (Decimal("5.00"), Decimal("0.00"))
    assert set(Order.objects.values_list("expires_on", flat=True)) == {PAID_THRU}
    assert (BatchAttempt.objects.get().outcome, BatchAttempt.objects.get().reason) == ("failed", "card_declined")
    assert AuditEvent.objects.get(action="payment_attempt.decide").reason == "refunded at Stripe by hand"
    assert_invariants()


@pytest.mark.parametrize("action", ["settle_paid", "settle_failed"])
def test_staff_who_may_only_view_attempts_get_403(unknown, viewer, action):
    assert viewer.get(reverse(CHANGELIST)).status_code == 200
    assert action not in viewer.get(reverse(CHANGELIST)).content.decode()
    with later(days=3, hours=1):
        assert decide(viewer, action, unknown).status_code == 403
        assert decide(viewer, action, unknown, apply="1", reason="x").status_code == 403
    assert PaymentAttempt.objects.get().state == AttemptState.UNKNOWN
    assert not AuditEvent.objects.filter(action="payment_attempt.decide").exists()


def test_a_decision_needs_a_reason_and_an_attempt_no_longer_in_flight(unknown):
    actor = Actor.system("ops")
    with pytest.raises(DomainError, match="may still be charging"):
        payment_attempt_decide(actor=actor, attempt_id=unknown.pk, state=AttemptState.FAILED, reason="x")
    with later(minutes=6):
        with pytest.raises(DomainError, match="say why"):
            payment_attempt_decide(actor=actor, attempt_id=unknown.pk, state=AttemptState.FAILED, reason=" ")
        payment_attempt_decide(actor=actor, attempt_id=unknown.pk, state=AttemptState.FAILED, reason="checked")
        with pytest.raises(DomainError, match="is already failed"):
            payment_attempt_decide(actor=actor, attempt_id=unknown.pk, state=AttemptState.SUCCEEDED, reason="x")
    assert PaymentAttempt.objects.get().state == AttemptState.FAILED


# --- scheduled: every 5 minutes, and first in the nightly task -----------------


def test_beat_reconciles_every_five_minutes():
    task = PeriodicTask.objects.get(task="payments.tasks.reconcile_payments")
    assert (task.enabled, task.interval.every, task.interval.period) == (True, 5, "minutes")


def test_the_task_does_nothing_without_stripe_configured(settings):
    settings.STRIPE_SECRET_KEY = ""
    assert reconcile_payments() is None


def test_the_task_settles_what_it_can(unknown):
    assert reconcile_payments() == {"settled": 1, "still_unknown": 0}


@pytest.fixture
def tonight(portal, stripe_on, reply_lost, settings):
    """02:00 on ON: c2's order renews from the balance tonight; c1's card
    charge of last night is still unknown."""
    two_am = datetime.datetime(2026, 12, 5, 2, 0, tzinfo=zoneinfo.ZoneInfo(settings.TIME_ZONE))
    with time_machine.travel(two_am, tick=True):
        customers = [
            {"ref": "c1", "name": "Jane", "email": "j@x.test", "reseller": "r1", "balance": "0.00"},
            {"ref": "c2", "name": "Joe", "email": "k@x.test", "reseller": "r1", "balance": "50.00"},
        ]
        orders = [order("o1", PAID_THRU, payment_source="card"), order("o2", PAID_THRU, customer="c2")]
        portal(orders, customers=customers)
        save_card(GOOD)
        with reply_lost():
            sweep_run(on=ON - datetime.timedelta(days=1))
        assert PaymentAttempt.objects.get().state == AttemptState.UNKNOWN
        yield


@pytest.mark.parametrize("failure", ["stripe down", "reconciliation cannot start"])
def test_the_nightly_task_sweeps_when_reconciliation_fails_entirely(tonight, stripe_fault, monkeypatch, failure):
    if failure == "stripe down":
        fault = stripe_fault("down", on=lambda method, url, body: "payment_intents" in url)
    else:
        monkeypatch.setattr("payments.charges.stripe_client", _raises(RuntimeError("no Stripe client")))
        fault = stripe_fault("down", on=lambda method, url, body: False)
    with fault:
        assert nightly_run() == [ON.isoformat()]
    assert Order.objects.get(ref="o2").expires_on == RENEWED  # swept
    assert PaymentAttempt.objects.get().state == AttemptState.UNKNOWN  # for the next pass
    fault = Fault.objects.get(stage=Stage.RECONCILIATION)
    expected = {"stripe down": "processor:stripe", "reconciliation cannot start": "reconciliation"}[failure]
    assert fault.subject == expected


def _raises(error):
    def raiser(*args, **kwargs):
        raise error

    return raiser
