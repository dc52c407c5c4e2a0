"""A run killed with SIGKILL in the middle of a batch, then run again: every
order extended and charged once, invoice numbers without a gap (SPEC "Faults
and bad data": a process killed at any instant loses nothing and charges
nothing twice). A real subprocess on PostgreSQL, killed while it holds a batch."""

import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count

from balances.models import Account
from invoices.models import Invoice, InvoiceLine
from orders.models import Order
from renewals.bench import BALANCE, PRICE, build_portal
from renewals.invariants import invariant_violations
from renewals.models import SweepRun

ROOT = Path(__file__).resolve().parents[2]
ON = datetime.date(2026, 12, 1)
ORDERS = 6_000  # 2,000 accounts of 3 orders, every one due on ON


def run_renewals_process() -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="billing_portal.settings",
        SECRET_KEY="kill-test",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        SWEEP_BATCH_SIZE="100",  # 20 batches, two at a time (one worker process per core)
        SWEEP_WORKERS="2",
    )
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_renewals", "--date", ON.isoformat(), "--json"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def holds_a_batch_after_one_committed() -> bool:
    """Another connection holds account row locks (a batch's transaction is
    open) and at least one batch has committed."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'balances_account' AND l.mode = 'RowShareLock' AND l.pid <> pg_backend_pid()"
        )
        locked = cursor.fetchone()[0] > 0
    return locked and InvoiceLine.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_run_killed_mid_batch_and_run_again_renews_and_charges_each_order_once():
    build_portal(orders=ORDERS, due_fraction=1.0, seed=7, on=ON)  # each expiring within 7 days: due
    before = dict(Order.objects.values_list("pk", "expires_on"))
    process = run_renewals_process()
    deadline = time.monotonic() + 120
    while not holds_a_batch_after_one_committed():
        assert process.poll() is None, f"the run ended before it could be killed: {process.communicate()}"
        assert time.monotonic() < deadline, "no batch seen in flight"
        time.sleep(0.002)  # polling the database: a lock held by another process signals nothing here
    os.killpg(process.pid, signal.SIGKILL)  # the run and its worker processes, mid-batch
    process.wait(timeout=30)
    done = InvoiceLine.objects.count()
    assert 0 < done < ORDERS, "killed in the middle: some batches committed, not all"
    assert SweepRun.objects.get().outcome == "running"  # it never got to say anything

    again = run_renewals_process()
    _out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err

    assert InvoiceLine.objects.count() == ORDERS
    assert not InvoiceLine.objects.values("order").annotate(n=Count("pk")).filter(n__gt=1).exists()
    renewed = dict(Order.objects.values_list("pk", "expires_on"))
    assert all(renewed[pk] > expires for pk, expires in before.items())
    # Charged once: every account paid exactly its three orders.
    assert set(Account.objects.values_list("balance", flat=True)) == {BALANCE - 3 * PRICE}
    sequences = sorted(Invoice.objects.values_list("sequence", flat=True))
    assert sequences == list(range(1, len(sequences) + 1))  # gapless: the killed batch burnt no number
    assert len(sequences) == ORDERS // 3
    assert invariant_violations() == []
