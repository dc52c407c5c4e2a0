"""Idempotency and races, on PostgreSQL with real concurrent connections."""

import datetime
from decimal import Decimal

import pytest

from balances.models import Account, LedgerEntry
from invoices.models import InvoiceLine
from orders.models import Order
from renewals.invariants import invariant_violations
from renewals.manual import renewal_pay, renewal_quote
from renewals.models import BatchAttempt, SweepBatch, SweepRun
from renewals.sweep import run as sweep_module
from renewals.sweep.run import nightly, sweep_run
from renewals.writer import RenewalConflict
from tenants.models import Customer
from tenants.scope import Actor, ActorKind
from tests.helpers import run_concurrently
from tests.renewals.conftest import order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

D = datetime.date
ON = D(2026, 12, 3)
CUSTOMERS = 20


@pytest.fixture
def many(portal, monkeypatch, settings):
    """20 accounts with 3 due orders each, swept in batches of 6 accounts, the
    batches of a run in threads (these tests patch the process they run in)."""
    monkeypatch.setattr(sweep_module, "BATCH_SIZE", 6)
    settings.SWEEP_POOL = "threads"
    portal(
        [order(f"c{c}-o{n}", D(2026, 12, 8 + n), customer=f"c{c}") for c in range(CUSTOMERS) for n in range(3)],
        customers=[{"ref": f"c{c}", "name": f"C{c}", "reseller": "r1", "balance": "100.00"} for c in range(CUSTOMERS)],
    )


def assert_each_order_renewed_once():
    assert invariant_violations() == []
    assert InvoiceLine.objects.count() == CUSTOMERS * 3
    assert set(Order.objects.values_list("expires_on", flat=True)) == {D(2027, 1, 8), D(2027, 1, 9), D(2027, 1, 10)}
    assert set(Account.objects.values_list("balance", flat=True)) == {Decimal("70.00")}
    assert LedgerEntry.objects.filter(kind="renewal").count() == CUSTOMERS


def test_the_sweep_in_worker_processes_renews_each_order_once(many, settings):
    settings.SWEEP_POOL = "processes"
    settings.SWEEP_WORKERS = 2
    report = sweep_run(on=ON)
    assert len(report.batches) == CUSTOMERS
    assert_each_order_renewed_once()
    assert sweep_run(on=ON).batches == []  # and again: nothing left


def test_two_sweeps_for_the_same_date_at_once(many):
    results = run_concurrently([lambda: sweep_run(on=ON), lambda: sweep_run(on=ON)])
    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(len(r.batches) for r in results) == CUSTOMERS  # each batch reported by the run that made it
    assert_each_order_renewed_once()


def test_a_sweep_killed_between_batches_and_run_again(many, monkeypatch):
    real = sweep_module.sweep_accounts
    calls = {"n": 0}

    def dies_on_the_third_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "sweep_accounts", dies_on_the_third_batch)
    with pytest.raises(SystemExit):
        sweep_run(on=ON)
    assert SweepRun.objects.get().outcome == "running"  # killed: it never got to say so
    done = BatchAttempt.objects.count()
    assert 0 < done < CUSTOMERS  # some batches committed, the killed one did not
    monkeypatch.setattr(sweep_module, "sweep_accounts", real)
    again = sweep_run(on=ON)
    assert len(again.batches) == CUSTOMERS - done
    assert_each_order_renewed_once()


def test_a_batch_that_fails_fails_the_run_and_a_re_run_finishes_it(many, monkeypatch):
    real = sweep_module.sweep_accounts
    calls = {"n": 0}

    def breaks_on_the_second_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "sweep_accounts", breaks_on_the_second_batch)
    with pytest.raises(RuntimeError, match="database went away"):
        sweep_run(on=ON)
    failed = SweepRun.objects.get()
    assert (failed.outcome, failed.error) == ("failed", "RuntimeError('database went away')")
    monkeypatch.setattr(sweep_module, "sweep_accounts", real)
    sweep_run(on=ON)
    assert_each_order_renewed_once()


def test_a_manual_renewal_racing_the_sweep(many):
    customer = Customer.objects.get(ref="c0")
    actor = Actor(kind=ActorKind.CUSTOMER, label="c0", customer_id=customer.pk)
    ids = list(Order.objects.filter(customer=customer).order_by("ref").values_list("pk", flat=True))
    quote = renewal_quote(actor=actor, items=[(pk, 1) for pk in ids])  # pins Dec 8, 9 and 10

    def manual():
        return renewal_pay(actor=actor, quote=quote, on=ON)

    manual_result, sweep_result = run_concurrently([manual, lambda: sweep_run(on=ON)])
    assert not isinstance(sweep_result, Exception)
    if isinstance(manual_result, Exception):
        # The sweep won: the manual payment was refused with nothing charged.
        assert isinstance(manual_result, RenewalConflict)
        assert "c0" in [b["customer"] for b in sweep_result.batches]
    else:
        # The manual renewal won: the sweep found nothing due for c0.
        assert "c0" not in [b["customer"] for b in sweep_result.batches]
    assert_each_order_renewed_once()


def test_a_redelivered_batch_task_renews_nothing_twice(many):
    from renewals.facts import load_catalog
    from renewals.sweep.run import due_account_batches, sweep_batch_run

    run = SweepRun.objects.create(business_date=ON)
    batches = SweepBatch.objects.bulk_create(
        [
            SweepBatch(run=run, number=n, customer_ids=ids)
            for n, ids in enumerate(due_account_batches(ON, load_catalog()))
        ]
    )
    # Every batch delivered twice, the copies racing each other.
    jobs = [lambda b=b: sweep_batch_run(b.pk) for b in batches for _ in range(2)]
    assert not [r for r in run_concurrently(jobs) if isinstance(r, Exception)]
    assert_each_order_renewed_once()


def test_a_second_beat_stands_down(many):
    results = run_concurrently([lambda: nightly(today=ON), lambda: nightly(today=ON)])
    ran = [r for r in results if r]
    assert len(ran) == 1
    assert [r is None or r == [] for r in results].count(True) == 1
    assert_each_order_renewed_once()
