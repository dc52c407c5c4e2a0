"""The sweep's card step (ARCHITECTURE.md "The card path"): the accounts the
balance step left because their batch needs the card, several at once, no
lock held across the network.

1. Transaction (``card_prepare``, for a few accounts at once, set-based):
   lock the accounts and plan them again (the balance step's transaction
   has ended: a manual payment may have come between), hold each one's
   balance part, record each batch as pending and its charge as an
   off-session payment attempt whose renewal payment claims the due
   orders (with the periods priced). Commit.
2. Charge (payments.charges.charge), each attempt on its own: the
   PaymentIntent is created and confirmed in one request, with the attempt
   id in its metadata and the attempt's own idempotency key.
3. Settled by payments with the handler renewals registered
   (renewals.settlement), now, in the charging thread's own transaction,
   or, for an answer that never came, at reconciliation.

The work is waiting on the processor (a few hundred ms a charge), so
``card_step`` charges CARD_CONCURRENCY accounts at once, each in a thread
with its own database connection, while the calling thread prepares the
next few. The processor's rate limit is kept below them, for every process
at once (payments.gateway, payments.throttle). All or nothing per account
is unchanged: each account has its own attempt, charge and settlement.
"""

import datetime
import queue
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection, connections, transaction

from balances.services import hold_place
from core.isolation import each, isolated
from core.models import Stage
from core.request_context import current_address, serving
from payments.charges import charge
from payments.models import AttemptPurpose, Card, PaymentAttempt
from renewals.claims import claim_line, claim_orders
from renewals.facts import Catalog
from renewals.models import BatchOutcome
from renewals.rules import Reason
from renewals.sweep.batches import plan_accounts, record_plans
from tenants.scope import Actor

# Accounts charged at once by one sweep worker (process or thread), each
# with a database connection of its own: at 300 ms a charge, 12 in flight
# keep up with the default rate (24 requests a second) with room for each
# account's database work.
DEFAULT_CONCURRENCY = 12


def card_concurrency() -> int:
    """Accounts charged at once (settings.CARD_CONCURRENCY) on PostgreSQL;
    one on SQLite, which has a single writer, and one inside a transaction,
    which the threads' own connections could not see into."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 1
    return max(1, int(getattr(settings, "CARD_CONCURRENCY", DEFAULT_CONCURRENCY) or 1))


def card_prepare(customer_ids, *, on: datetime.date, catalog: Catalog, run=None) -> list[PaymentAttempt]:
    """Step 1 for these accounts, in one transaction: the attempts to charge.

    An account attempted meanwhile, or no longer a card batch, is left to
    the balance path; one whose default card was removed meanwhile is tried
    again tomorrow (nothing of it is recorded)."""
    with transaction.atomic():
        plans = [
            p
            for p in plan_accounts(customer_ids, on, catalog, lock=True)
            if p.needs_card and p.outcome == BatchOutcome.RENEWED
        ]
        cards = {
            card.account_id: card
            for card in Card.objects.filter(account_id__in=[p.account.customer_id for p in plans], is_default=True)
        }
        plans = [p for p in plans if p.account.customer_id in cards]
        if not plans:
            return []
        for plan in plans:
            plan.outcome, plan.reason = BatchOutcome.PENDING, Reason.PAYMENT_UNKNOWN
        batch_ids = record_plans(plans, {}, on, run)
        attempts = PaymentAttempt.objects.bulk_create(
            [
                PaymentAttempt(
                    account_id=plan.account.customer_id,
                    card=cards[plan.account.customer_id],
                    purpose=AttemptPurpose.RENEWAL,
                    amount=plan.card_amount,
                    currency=plan.account.currency,
                    # One charge per account and business date, whoever tries.
                    idempotency_key=f"renewal-{plan.account.customer_id}-{on.isoformat()}",
                    business_date=on,
                    off_session=True,  # the customer is asleep: nobody can authenticate
                )
                for plan in plans
            ]
        )
        for attempt, plan in zip(attempts, plans, strict=True):
            hold = plan.from_balance
            claim_orders(
                attempt,
                [
                    claim_line(p.order.id, p.order.ref, p.order.status, catalog.describe(p.order), p.period)
                    for p in plan.batch
                ],
                hold=hold,
                batch_id=batch_ids[plan.account.customer_id],
            )
            if hold:
                hold_place(account_id=plan.account.customer_id, amount=hold)
    return attempts


def card_step(customer_ids, *, on: datetime.date, catalog: Catalog, actor: Actor, run=None, **isolation) -> None:
    """Steps 1 and 2 for these accounts (step 3 follows from each charge),
    ``card_concurrency()`` charges at once.

    Each account is isolated as ``core.isolation`` isolates the balance
    step (``on`` and ``isolation``: its options, keyed by customer id): a
    part of step 1 that raises is rolled back and split until the broken
    account is found alone, recorded as a fault and handed to ``failed``;
    a charge that raises (``charge`` settles or leaves ``unknown`` whatever
    it meets, so hardly ever) is recorded the same way. The others go on.

    The calling thread prepares the accounts a few at a time and queues
    their attempts; each charging thread takes the next one when its last
    is settled, on its own connection, closed at the end. An error that
    cannot be isolated (recording the fault failed) stops the preparing;
    the attempts already prepared are still charged; then it is raised."""
    ids = list(customer_ids)
    workers = min(card_concurrency(), len(ids))
    chunk = max(1, workers)
    subject, failed = isolation.pop("subject"), isolation.pop("failed", None)

    def prepare(part: list[int]) -> list[PaymentAttempt]:
        prepared: list[PaymentAttempt] = []
        isolated(
            part,
            lambda accounts: prepared.extend(card_prepare(accounts, on=on, catalog=catalog, run=run)),
            stage=Stage.CARD,
            on=on,
            chunk=len(part),
            subject=subject,
            failed=failed,
            **isolation,
        )
        return prepared

    def charge_alone(attempt: PaymentAttempt) -> None:
        each(
            [attempt],
            lambda a: charge(a, actor=actor),
            stage=Stage.CARD,
            on=on,
            subject=lambda a: subject(a.account_id),
            failed=(lambda a, error: failed(a.account_id, error)) if failed else None,
            **isolation,
        )

    if workers <= 1:
        for start in range(0, len(ids), chunk):
            for attempt in prepare(ids[start : start + chunk]):
                charge_alone(attempt)
        return
    # Bounded: an attempt waits for a charging thread a moment, not minutes
    # (one left pending by a crash is reconciliation's after a few minutes).
    todo: queue.Queue = queue.Queue(maxsize=workers)
    errors: list[BaseException] = []
    address = current_address()  # a thread does not inherit the request's

    def charging() -> None:
        try:
            with serving(address):
                while (attempt := todo.get()) is not None:
                    try:
                        charge_alone(attempt)
                    except BaseException as exc:  # noqa: BLE001 - raised by card_step once the queue is done
                        errors.append(exc)
        finally:
            connections.close_all()  # this thread's own

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="card-step") as pool:
        for _ in range(workers):
            pool.submit(charging)
        try:
            for start in range(0, len(ids), chunk):
                if errors:
                    break
                for attempt in prepare(ids[start : start + chunk]):
                    todo.put(attempt)
        finally:
            for _ in range(workers):
                todo.put(None)
    if errors:
        raise errors[0]
