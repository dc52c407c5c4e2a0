"""A manual card renewal and the nightly sweep of the same account, at once,
on PostgreSQL with real connections, in both orders of arrival: each order
renewed once, every charge with its ledger entry, the invariants holding."""

import datetime
import threading
import time
from decimal import Decimal

import pytest
import stripe
from django.db import connection, connections

from balances.models import Account, LedgerEntry
from invoices.models import InvoiceLine
from orders.models import Order
from payments.models import AttemptState, PaymentAttempt
from renewals.invariants import invariant_violations
from renewals.manual import renewal_pay, renewal_quote
from renewals.sweep import execute
from renewals.sweep import run as sweep_module
from renewals.writer import RenewalConflict
from tenants.models import Customer
from tenants.scope import Actor, ActorKind
from tests.payments.test_card_renewals import intents_of, save_card
from tests.payments.test_cards import GOOD
from tests.renewals.conftest import order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ON = datetime.date(2026, 12, 5)
WAIT = 60  # seconds: only a broken test waits this long


@pytest.fixture
def jane(portal, stripe_on, settings):
    settings.SWEEP_WORKERS = 1  # the batches in this thread: the test's doubles and events reach them
    portal(
        [order("o1", datetime.date(2026, 12, 10)), order("o2", datetime.date(2026, 12, 9))],
        customers=[{"ref": "c1", "name": "Jane", "email": "j@x.test", "reseller": "r1", "balance": "100.00"}],
    )
    save_card(GOOD)
    customer = Customer.objects.get(ref="c1")
    return Actor(kind=ActorKind.CUSTOMER, label="c1", customer_id=customer.pk)


class Thread(threading.Thread):
    """A job on its own database connection; ``result`` is what it returned or raised."""

    def __init__(self, job):
        super().__init__(daemon=True)
        self.job, self.result = job, None

    def run(self):
        try:
            self.result = self.job()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            self.result = exc
        finally:
            connections.close_all()


def manual_renewal(actor):
    ids = list(Order.objects.order_by("ref").values_list("pk", flat=True))
    quote = renewal_quote(actor=actor, items=[(pk, 1) for pk in ids])
    return lambda: renewal_pay(actor=actor, quote=quote, payment="card", on=ON)


def waits_for_a_lock() -> bool:
    """Another connection waits for a row lock (the manual payment, behind the sweep's)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()")
        return cursor.fetchone()[0] > 0


def assert_each_order_renewed_once_and_every_charge_posted():
    assert InvoiceLine.objects.count() == 2
    assert set(Order.objects.values_list("expires_on", flat=True)) == {
        datetime.date(2027, 1, 10),
        datetime.date(2027, 1, 9),
    }
    charged = [i for i in intents_of() if i.status == "succeeded"]
    posted = LedgerEntry.objects.filter(kind="card_top_up")
    assert sorted(i.id for i in charged) == sorted(posted.values_list("reference", flat=True))
    assert not PaymentAttempt.objects.exclude(state__in=[AttemptState.SUCCEEDED, AttemptState.FAILED]).exists()
    assert invariant_violations() == []


def test_a_manual_card_renewal_started_while_the_sweep_runs_keeps_its_orders(jane, monkeypatch):
    """The sweep has begun (its catalog read) when the manual payment claims
    the orders and charges the card; the sweep's batch for the account, under
    its lock, finds them claimed and leaves them; the payment renews them."""
    sweep_ready, go, charging, release = (threading.Event() for _ in range(4))
    real_sweep, real_request = sweep_module.sweep_accounts, stripe.RequestsClient.request

    def sweep_after_go(*args, **kwargs):
        sweep_ready.set()
        assert go.wait(WAIT)
        return real_sweep(*args, **kwargs)

    def confirm_held(self, method, url, headers, post_data=None):
        if url.endswith("/confirm"):
            charging.set()
            assert release.wait(WAIT)
        return real_request(self, method, url, headers, post_data)

    monkeypatch.setattr(sweep_module, "sweep_accounts", sweep_after_go)
    monkeypatch.setattr(stripe.RequestsClient, "request", confirm_held)
    pay = manual_renewal(jane)
    sweeping = Thread(lambda: sweep_module.sweep_run(on=ON))
    sweeping.start()
    while not sweep_ready.wait(0.05):  # the run is under way, its batches about to be swept
        assert sweeping.is_alive(), sweeping.result
    paying = Thread(pay)
    paying.start()
    # The orders are claimed and the card is being charged (or the payment ended, and says why).
    while not charging.wait(0.05):
        assert paying.is_alive(), paying.result
    go.set()
    sweeping.join(WAIT)
    report = sweeping.result
    assert not isinstance(report, Exception), report
    assert {o["order"]: (o["outcome"], o["reason"]) for o in report.orders} == {
        "o1": ("pending", "payment_unknown"),
        "o2": ("pending", "payment_unknown"),
    }
    release.set()
    paying.join(WAIT)
    invoice = paying.result
    assert not isinstance(invoice, Exception), invoice
    assert invoice.source == "manual"
    assert Account.objects.get().balance == Decimal("100.00")  # 20.00 charged to the card, 20.00 renewal
    assert_each_order_renewed_once_and_every_charge_posted()


def test_a_manual_card_renewal_behind_the_sweeps_lock_is_refused_with_nothing_charged(jane, monkeypatch):
    """The sweep holds the account's lock and renews; the manual payment waits
    for the lock, then finds its quote's paid-thru dates gone: refused,
    nothing charged."""
    locked, release = threading.Event(), threading.Event()
    real_write = execute.write_renewals

    def write_after_release(*args, **kwargs):
        locked.set()  # inside the batch's transaction: the account is locked
        assert release.wait(WAIT)
        return real_write(*args, **kwargs)

    monkeypatch.setattr(execute, "write_renewals", write_after_release)
    pay = manual_renewal(jane)
    sweeping = Thread(lambda: sweep_module.sweep_run(on=ON))
    sweeping.start()
    assert locked.wait(WAIT)
    paying = Thread(pay)
    paying.start()
    deadline = time.monotonic() + WAIT
    while not waits_for_a_lock():  # polling the database: a lock wait signals nothing else
        assert time.monotonic() < deadline, "the manual payment never reached the account's lock"
        time.sleep(0.01)
    release.set()
    sweeping.join(WAIT)
    paying.join(WAIT)
    assert not isinstance(sweeping.result, Exception), sweeping.result
    assert isinstance(paying.result, RenewalConflict), paying.result
    assert intents_of() == []  # nothing charged to the card
    assert Account.objects.get().balance == Decimal("80.00")  # the sweep's renewal, from the balance
    assert_each_order_renewed_once_and_every_charge_posted()
