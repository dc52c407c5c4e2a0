"""The nightly work for one business date, and the catch-up over missed dates.

A real run: lifecycle, then the accounts with due orders in batches of
BATCH_SIZE (each batch one transaction; with a broker, one Celery task each),
then the report built from the records the run wrote. A dry-run: the same
planning functions, nothing written, locked, charged or sent.
"""

import datetime
import heapq
import itertools
import logging
import multiprocessing
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from django.conf import settings
from django.db import connection, connections
from django.db.models import Count, Q
from django.utils import timezone

from audit.services import audit_record
from core.dates import business_today
from core.isolation import faults_alert
from core.queue import broker_available, enqueue
from core.request_context import current_address, serving
from invoices.models import InvoiceLine
from orders.models import Order
from renewals.card_expiry import card_expiry_warnings
from renewals.facts import load_catalog
from renewals.lifecycle import lifecycle_apply, lifecycle_plan
from renewals.models import (
    BatchAttempt,
    BatchOutcome,
    Lease,
    LifecycleEvent,
    OrderOutcome,
    RunOutcome,
    SweepBatch,
    SweepRun,
    Transition,
)
from renewals.open import open_renewals_sync
from renewals.reminders import advance_notices, renewal_reminders, termination_warnings
from renewals.sweep.execute import plan_accounts_predicted, sweep_accounts
from renewals.sweep.report import Report, report_from_plans, report_from_records
from tenants.scope import Actor

log = logging.getLogger("renewals.sweep")
# Accounts per batch (one transaction each): large enough that the fixed
# cost of a batch (its ~20 statements and its commit) is spread thin, small
# enough that a batch's locks are held briefly. settings.SWEEP_BATCH_SIZE.
BATCH_SIZE = getattr(settings, "SWEEP_BATCH_SIZE", 1000)


def due_account_batches(on: datetime.date, catalog) -> Iterator[list[int]]:
    """Accounts with an order whose window holds ``on`` (or one held back by
    an internal error) and no attempt on ``on`` yet, in id order, BATCH_SIZE
    at a time: one indexed query (orders by expiry), streamed so memory stays
    flat however many accounts are due."""
    attempted = BatchAttempt.objects.filter(business_date=on).values("customer_id")
    ids = (
        Order.objects.filter(catalog.window_q(on))
        .exclude(customer_id__in=attempted)
        .order_by("customer_id")
        .values_list("customer_id", flat=True)
        .distinct()
    )
    # PostgreSQL reads it through a server-side cursor (materialised when it
    # opens, so the run's own writes cannot move it); SQLite, a small
    # deployment's database, reads it whole first for the same reason.
    rows = ids.iterator(chunk_size=5000) if connection.vendor == "postgresql" else iter(list(ids))
    if catalog.held:
        held = (
            Order.objects.filter(pk__in=catalog.held)
            .exclude(customer_id__in=attempted)
            .order_by("customer_id")
            .values_list("customer_id", flat=True)
            .distinct()
        )
        rows = (pk for pk, _group in itertools.groupby(heapq.merge(rows, list(held))))
    batch: list[int] = []
    for customer_id in rows:
        batch.append(customer_id)
        if len(batch) == BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


def _quiet(phase: str, done: int, total: int | None) -> None:
    pass


def sweep_run(
    *,
    on: datetime.date,
    dry_run: bool = False,
    actor: Actor | None = None,
    build_report: bool = True,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> Report | None:
    """Run (or dry-run) the nightly work for business date ``on``. The report
    holds a line per due order; ``build_report=False`` skips it for huge runs
    (the SweepRun row keeps the counts either way). ``progress(phase, done,
    total)`` hears of each phase and batch of accounts as it ends (a
    terminal's progress bars: core.progress)."""
    actor = actor or Actor.system()
    tell = progress or _quiet
    if dry_run:
        return _dry_run(on, tell)
    started = time.monotonic()
    run = SweepRun.objects.create(business_date=on, triggered_by=actor.label)
    audit_record(actor=actor, action="sweep.run", target=run, business_date=on)
    try:
        lifecycle_apply(lifecycle_plan(on), on=on, actor=actor, run=run)
        tell("lifecycle", 1, 1)
        catalog = load_catalog(held=True)
        batches = due_account_batches(on, catalog)
        if fan_out_enabled():
            _fan_out(run, on, batches, progress=progress)
        elif sweep_workers() > 1:
            _in_parallel(batches, on=on, catalog=catalog, actor=actor, run=run, progress=tell)
        else:
            swept = 0
            for ids in batches:
                sweep_accounts(ids, on=on, catalog=catalog, actor=actor, run=run)
                swept += len(ids)
                tell("accounts", swept, None)
        # After the sweep: what it renewed tonight needs none (its renewal is
        # written); every other order in its window waits for payment.
        open_renewals_sync(on, catalog, run_id=run.pk)
        tell("open_renewals", 1, 1)
        advance_notices(on, catalog, run_id=run.pk)
        tell("notices", 1, 3)
        card_expiry_warnings(on, catalog, run_id=run.pk)
        tell("card_expiry_warnings", 1, 1)
        renewal_reminders(on, catalog, run_id=run.pk)
        tell("notices", 2, 3)
        termination_warnings(on, run_id=run.pk)
        tell("notices", 3, 3)
    except Exception as exc:
        SweepRun.objects.filter(pk=run.pk).update(
            outcome=RunOutcome.FAILED, error=repr(exc)[:4000], finished_at=timezone.now()
        )
        raise
    _finish(run, started)
    faults_alert()  # the operators hear of what failed alone tonight, once
    return report_from_records(run) if build_report else None


def _dry_run(on: datetime.date, progress: Callable[[str, int, int | None], None]) -> Report:
    lifecycle = lifecycle_plan(on)
    catalog = load_catalog(held=True)
    plans = []
    planned = 0
    for ids in due_account_batches(on, catalog):
        plans += plan_accounts_predicted(ids, on, catalog)
        planned += len(ids)
        progress("accounts planned", planned, None)
    return report_from_plans(on, plans, lifecycle)


def _finish(run: SweepRun, started: float) -> None:
    counts = run_counts(run)
    SweepRun.objects.filter(pk=run.pk).update(
        outcome=RunOutcome.COMPLETED,
        finished_at=timezone.now(),
        duration_ms=int((time.monotonic() - started) * 1000),
        **counts,
    )
    for key, value in counts.items():
        setattr(run, key, value)
    run.outcome = RunOutcome.COMPLETED


def sweep_workers() -> int:
    """Batches swept at once when there is no broker: on PostgreSQL, one more
    than the cores by default (settings.SWEEP_WORKERS): a worker waits on the
    database for about half its batch, when another's Python can run (on 2
    cores, 3 workers swept 100k orders in about 0.8 of the time 2 took); one
    on SQLite, which has a single writer anyway. Never inside a transaction
    the other connections could not see into."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 1
    return getattr(settings, "SWEEP_WORKERS", None) or (os.cpu_count() or 1) + 1


def _in_parallel(batches: Iterator[list[int]], *, on, catalog, actor, run, progress=_quiet) -> None:
    """Sweep batches side by side, each with its own connection: in worker
    processes (settings.SWEEP_POOL = "processes", the default: Python's work
    runs on every core) or threads. Batches hold disjoint accounts; the only
    shared rows, the resellers' invoice sequences, are locked last and
    briefly (writer.finish)."""
    workers = sweep_workers()
    if getattr(settings, "SWEEP_POOL", "processes") == "processes":
        # Forked with no connection open, so that no child inherits one; a
        # forked pool starts all its processes on the first task, which
        # these no-op tasks make happen before this process opens a
        # connection again to stream the night's accounts (memory flat).
        connections.close_all()
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
        for started in [pool.submit(os.getpid) for _ in range(workers)]:
            started.result()
    else:
        pool = ThreadPoolExecutor(max_workers=workers)
    failures: list[BaseException] = []
    swept = 0
    address = current_address()  # a worker thread or process does not inherit the request's
    with pool:
        pending: deque = deque()  # (future, accounts in its batch)

        def settle_oldest() -> None:
            nonlocal swept
            future, accounts = pending.popleft()
            error = future.exception()  # waits for it to end
            if error is not None:
                failures.append(error)
            swept += accounts
            progress("accounts", swept, None)

        for ids in batches:
            pending.append((pool.submit(_sweep_batch_alone, ids, on, catalog, actor, run, address), len(ids)))
            # A few batches in flight at a time: memory stays flat.
            while len(pending) > 2 * workers or (pending and pending[0][0].done()):
                settle_oldest()
            if failures:
                break  # no new batches after a failure; those in flight end
        while pending:
            settle_oldest()
    if failures:
        raise failures[0]


def _sweep_batch_alone(ids: list[int], on, catalog, actor, run, address: str | None) -> None:
    """One batch on this worker's own connection, closed after; its audit
    rows carry the address of the request that started the run, if any."""
    try:
        with serving(address):
            sweep_accounts(ids, on=on, catalog=catalog, actor=actor, run=run)
    finally:
        connection.close()


def run_counts(run: SweepRun) -> dict[str, int]:
    """The run's counts, by aggregate queries over what it recorded."""
    attempts = dict(BatchAttempt.objects.filter(run=run).values_list("outcome").annotate(n=Count("pk")).order_by())
    orders = dict(OrderOutcome.objects.filter(run=run).values_list("outcome").annotate(n=Count("pk")).order_by())
    orders[BatchOutcome.RENEWED] = InvoiceLine.objects.filter(invoice__attempt__run=run).count()
    moves = dict(LifecycleEvent.objects.filter(run=run).values_list("transition").annotate(n=Count("pk")).order_by())
    return {
        "accounts": sum(attempts.values()),
        "batches_renewed": attempts.get(BatchOutcome.RENEWED, 0),
        "batches_failed": attempts.get(BatchOutcome.FAILED, 0),
        "batches_pending": attempts.get(BatchOutcome.PENDING, 0),
        "orders_renewed": orders.get(BatchOutcome.RENEWED, 0),
        "orders_skipped": orders.get(BatchOutcome.SKIPPED, 0),
        "suspended": moves.get(Transition.SUSPEND, 0),
        "terminated": moves.get(Transition.TERMINATE, 0),
    }


def fan_out_enabled() -> bool:
    """Batches go to the Celery workers when there is a broker and it
    answers; with the broker down the run does the work itself."""
    if settings.CELERY_TASK_ALWAYS_EAGER or not getattr(settings, "SWEEP_FAN_OUT", True):
        return False
    if not broker_available():
        log.warning("the broker does not answer: the nightly run sweeps in this process")
        return False
    return True


def _fan_out(run: SweepRun, on: datetime.date, batches: Iterator[list[int]], *, progress=None) -> None:
    """One Celery task per batch of accounts; wait until each batch row says done.

    A batch whose task is lost, late or redelivered is harmless: whichever
    worker locks an account first records its attempt, and the others find it
    and do nothing. After the wait, whatever is still not done is swept here;
    a batch that cannot be queued (the broker went down meanwhile) at once.
    """
    queued = True
    for number, ids in enumerate(batches):
        row = SweepBatch.objects.create(run=run, number=number, customer_ids=ids)
        queued = queued and enqueue("renewals.tasks.sweep_batch", row.pk)
        if not queued:
            sweep_batch_run(row.pk)
    deadline = time.monotonic() + getattr(settings, "SWEEP_BATCH_WAIT_SECONDS", 600)
    open_batches = SweepBatch.objects.filter(run=run, finished_at__isnull=True)
    while open_batches.exists() and time.monotonic() < deadline:
        if progress is not None:
            # The batches end in the workers; their rows say how many have.
            total = SweepBatch.objects.filter(run=run).count()
            progress("batches", total - open_batches.count(), total)
        time.sleep(0.5)  # the workers' commits are the event; the database is where it shows
    for row in open_batches:
        log.warning("sweep %s: batch %s not done by the workers; sweeping it here", on, row.number)
        sweep_batch_run(row.pk)


def sweep_batch_run(batch_id: int) -> None:
    """Sweep one fanned-out batch (a Celery task, or the orchestrator itself)."""
    batch = SweepBatch.objects.select_related("run").get(pk=batch_id)
    run = batch.run
    catalog = load_catalog(held=True)
    sweep_accounts(batch.customer_ids, on=run.business_date, catalog=catalog, actor=Actor.system(), run=run)
    SweepBatch.objects.filter(pk=batch_id, finished_at__isnull=True).update(finished_at=timezone.now())


def last_completed_date(on_or_before: datetime.date) -> datetime.date | None:
    # Runs an operator made for later dates (time travel on demo data) do not
    # count: the schedule still owes every date up to today.
    run = (
        SweepRun.objects.filter(dry_run=False, outcome=RunOutcome.COMPLETED, business_date__lte=on_or_before)
        .order_by("-business_date")
        .first()
    )
    return run.business_date if run else None


def dates_to_run(today: datetime.date) -> list[datetime.date]:
    """Every business date since the last completed run, in order, up to today
    (just today when there has never been one; none when today is done)."""
    last = last_completed_date(today)
    if last is None:
        return [today]
    return [last + datetime.timedelta(days=n) for n in range(1, (today - last).days + 1)]


def nightly(today: datetime.date | None = None, *, holder: str | None = None) -> list[Report] | None:
    """The scheduled work: every missed date in order, up to today.

    Guarded by a lease in the database: a second beat, or a redelivered task,
    finds it held and returns None without doing anything.
    """
    holder = holder or f"nightly-{uuid.uuid4()}"
    if not lease_acquire("nightly", holder):
        log.info("nightly run skipped: another run holds the lease")
        return None
    try:
        return [sweep_run(on=on) for on in dates_to_run(today or business_today())]
    finally:
        lease_release("nightly", holder)


def lease_acquire(name: str, holder: str, seconds: int = 6 * 3600) -> bool:
    """Take the named lease unless someone else holds an unexpired one: a
    conditional UPDATE decides, so two callers cannot both win."""
    now = timezone.now()
    Lease.objects.get_or_create(name=name)
    taken = (
        Lease.objects.filter(name=name)
        .filter(Q(holder="") | Q(expires_at__lt=now) | Q(expires_at__isnull=True) | Q(holder=holder))
        .update(holder=holder, expires_at=now + datetime.timedelta(seconds=seconds))
    )
    return taken == 1


def lease_release(name: str, holder: str) -> None:
    Lease.objects.filter(name=name, holder=holder).update(holder="", expires_at=None)
