"""One account's batch between the database and the planner (sweep.plan):
the accounts planned under their locks (``plan_accounts``, the read path
shared by the balance step, the card step and the dry-run) and the plans
recorded as batch attempts and outcome rows (``record_plans``)."""

import datetime
from collections import defaultdict

from django.db import connection

from core.sql import db_now, insert_rows
from renewals.claims import claimed_orders
from renewals.facts import Catalog, OrderRow, load_accounts, window_orders
from renewals.models import BatchAttempt, BatchOutcome, OrderOutcome
from renewals.payments import mark_usable_cards
from renewals.rules import Reason
from renewals.sweep.plan import AccountPlan, plan_account


def plan_accounts(customer_ids, on: datetime.date, catalog: Catalog, *, lock: bool) -> list[AccountPlan]:
    """Plan the accounts not yet attempted on ``on`` (the shared read path of
    the real run and the dry-run)."""
    accounts = load_accounts(customer_ids, lock=lock)
    attempted = attempted_on(accounts, on)
    accounts = {pk: a for pk, a in accounts.items() if pk not in attempted}
    mark_usable_cards(accounts, on)
    # Under the accounts' locks: a card payment that claimed orders (a manual
    # renewal started a moment ago, whatever the run saw when it began) keeps
    # them until it is settled; the batch leaves them out (payment_unknown).
    claimed = claimed_orders(accounts)
    by_customer: dict[int, list[OrderRow]] = defaultdict(list)
    for order in window_orders(accounts, on, catalog):
        by_customer[order.customer_id].append(order)
    verdicts: dict = {}
    plans = [plan_account(accounts[pk], by_customer[pk], catalog, on, claimed, verdicts) for pk in sorted(by_customer)]
    return [p for p in plans if p.due]


def attempted_on(customer_ids, on: datetime.date) -> set[int]:
    """Which of these accounts have an attempt on ``on`` already (another
    run's or a redelivered task's, found under the locks). On PostgreSQL one
    probe of the unique (customer, date) index per account: asked as one
    ``customer_id = ANY(...) AND business_date = ...``, the planner may read
    every attempt of the date through the date's index instead, the more of
    them the later in the night (its statistics think tonight's date empty)."""
    ids = list(customer_ids)
    if connection.vendor != "postgresql":
        return set(
            BatchAttempt.objects.filter(customer_id__in=ids, business_date=on).values_list("customer_id", flat=True)
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT v.id FROM unnest(%s::bigint[]) AS v(id), LATERAL (SELECT 1 FROM renewals_batchattempt a"
            " WHERE a.customer_id = v.id AND a.business_date = %s LIMIT 1) AS hit",
            [ids, on],
        )
        return {row[0] for row in cursor.fetchall()}


def record_plans(plans: list[AccountPlan], invoices: dict[int, int], on: datetime.date, run) -> dict[int, int]:
    """The batch attempts and the outcome rows of planned accounts; returns
    {customer_id: attempt id}."""
    now = db_now()
    run_id = run.pk if run else None
    attempt_ids = dict(
        (customer_id, pk)
        for pk, customer_id in insert_rows(
            BatchAttempt,
            ("customer_id", "business_date", "run_id", "outcome", "reason", "total", "currency", "invoice_id",
             "created_at"),
            [
                (p.account.customer_id, on, run_id, p.outcome or BatchOutcome.SKIPPED, p.reason or "", p.total,
                 p.account.currency, invoices.get(p.account.customer_id), now)
                for p in plans
            ],
            returning=("id", "customer_id"),
        )
    )  # fmt: skip
    # A renewed order's outcome is its invoice line (the renewal record); the
    # orders that were not renewed get a row of their own.
    rows = []
    for plan in plans:
        attempt = attempt_ids[plan.account.customer_id]
        if plan.outcome != BatchOutcome.RENEWED:
            for p in plan.batch:
                rows.append(
                    (p.order.id, on, p.order.expires_on, attempt, run_id, plan.outcome, plan.reason or "", p.amount,
                     p.order.expires_on)
                )  # fmt: skip
        for p in plan.skipped:
            outcome = BatchOutcome.PENDING if p.reason == Reason.PAYMENT_UNKNOWN else BatchOutcome.SKIPPED
            rows.append(
                (p.order.id, on, p.order.expires_on, attempt, run_id, outcome, p.reason, None, p.order.expires_on)
            )
    insert_rows(
        OrderOutcome,
        ("order_id", "business_date", "cycle", "attempt_id", "run_id", "outcome", "reason", "amount", "expires_on"),
        rows,
    )
    return attempt_ids
