"""The nightly work under Celery: the beat schedule, and a real worker on a
real Redis broker sweeping the batches a run fans out."""

import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from billing_portal.celery import app as celery_app
from invoices.models import InvoiceLine
from orders.models import Order
from renewals.invariants import invariant_violations
from renewals.models import SweepBatch, SweepRun
from renewals.sweep import run as sweep_module
from tests.renewals.conftest import order

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
D = datetime.date


@pytest.mark.django_db
def test_beat_runs_the_nightly_work_at_two_in_the_platform_time_zone():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="renewals.tasks.nightly_run")
    assert task.enabled
    assert (task.crontab.hour, task.crontab.minute, str(task.crontab.timezone)) == ("2", "0", "UTC")


@pytest.mark.django_db
def test_beat_runs_pending_hooks_every_five_minutes_and_retries_failed_ones_only_nightly(portal, settings):
    from django_celery_beat.models import PeriodicTask

    from renewals.models import HookState, LifecycleEvent
    from renewals.tasks import run_provisioning_hooks

    task = PeriodicTask.objects.get(task="renewals.tasks.run_provisioning_hooks")
    assert (task.enabled, task.interval.every, task.interval.period) == (True, 5, "minutes")
    portal([order("o1", D(2026, 12, 10), auto_renew=False), order("o2", D(2026, 12, 10), auto_renew=False)])
    sweep_module.sweep_run(on=D(2026, 12, 11))  # two suspensions, their hooks pending
    LifecycleEvent.objects.filter(order__ref="o1").update(hook_state=HookState.FAILED, hook_attempts=1)
    assert run_provisioning_hooks() == {"done": 1, "failed": 0}  # o2's pending hook; o1's failed one waits
    assert LifecycleEvent.objects.get(order__ref="o1").hook_state == HookState.FAILED


@pytest.mark.django_db
def test_the_nightly_task_runs_in_process_without_a_broker(portal):
    from renewals.tasks import nightly_run

    portal([order("o1", D(2026, 12, 10))])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("renewals.sweep.run.business_today", lambda: D(2026, 12, 5))
        assert nightly_run.delay().get() == ["2026-12-05"]
    assert InvoiceLine.objects.count() == 1


def redis_available() -> bool:
    import redis

    try:
        return redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError:
        return False


def reconfigure(**conf):
    """Point the app at another broker or backend, dropping the connections
    and the backend it cached from earlier (in-process) use."""
    celery_app.conf.update(**conf)
    celery_app._backend_cache = None
    celery_app._local.__dict__.pop("backend", None)
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def worker(settings):
    """A real Celery worker process on Redis, using this test's database."""
    import redis

    if not redis_available():
        pytest.skip(f"needs Redis at {REDIS_URL}")
    redis.Redis.from_url(REDIS_URL).flushdb()
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "billing_portal.settings",
        "SECRET_KEY": "worker-test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": REDIS_URL,
        "CELERY_RESULT_BACKEND": REDIS_URL,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "billing_portal", "worker", "--pool", "solo", "--loglevel", "warning",
         "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    previous = (celery_app.conf.broker_url, celery_app.conf.task_always_eager, celery_app.conf.result_backend)
    reconfigure(broker_url=REDIS_URL, task_always_eager=False, result_backend=REDIS_URL)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.SWEEP_BATCH_WAIT_SECONDS = 20
    yield process
    reconfigure(broker_url=previous[0], task_always_eager=previous[1], result_backend=previous[2])
    process.terminate()
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    print(output)  # shown by pytest when the test failed


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sweeps_the_fanned_out_batches_and_a_redelivery_changes_nothing(portal, worker, monkeypatch):
    from renewals.tasks import sweep_batch

    monkeypatch.setattr(sweep_module, "BATCH_SIZE", 4)
    portal(
        [order(f"c{c}-o{n}", D(2026, 12, 10), customer=f"c{c}") for c in range(10) for n in range(2)],
        customers=[{"ref": f"c{c}", "name": f"C{c}", "reseller": "r1", "balance": "100.00"} for c in range(10)],
    )
    started = time.monotonic()
    report = sweep_module.sweep_run(on=D(2026, 12, 5))
    assert time.monotonic() - started < 100, "the worker did not take the batches"
    run = SweepRun.objects.get()
    assert SweepBatch.objects.filter(run=run).count() == 3
    assert not SweepBatch.objects.filter(run=run, finished_at__isnull=True).exists()
    assert len(report.batches) == 10
    assert {b["outcome"] for b in report.batches} == {"renewed"}
    # The broker delivers every batch again (Redis' visibility timeout, a
    # second beat): the database finds the work done.
    for batch in SweepBatch.objects.filter(run=run):
        sweep_batch.delay(batch.pk).get(timeout=60)
    assert InvoiceLine.objects.count() == 20
    assert set(Order.objects.values_list("expires_on", flat=True)) == {D(2027, 1, 10)}
    assert invariant_violations() == []
