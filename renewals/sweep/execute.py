"""The real sweep of one batch of accounts: the balance step in one
transaction, the accounts locked in id order, then a fixed number of
set-based statements whatever the batch holds; then the card step
(sweep.card) for the accounts it left to the card."""

import datetime
import functools

from django.db import transaction

from balances.models import Account
from core.isolation import Subject, isolated
from core.models import Stage
from invoices.models import RenewalSource
from orders.models import Order
from renewals.facts import Catalog, OrderRow, load_accounts, order_rows
from renewals.models import BatchAttempt, BatchOutcome, OrderOutcome
from renewals.notices import FailedOrder, Failure, failure_notices
from renewals.rules import Reason
from renewals.sweep.batches import plan_accounts, record_plans
from renewals.sweep.card import card_step
from renewals.sweep.plan import ZERO, AccountPlan, PlannedOrder
from renewals.writer import Charge, Line, finish, write_renewals
from tenants.models import Customer
from tenants.scope import Actor


def plan_accounts_predicted(customer_ids, on: datetime.date, catalog: Catalog) -> list[AccountPlan]:
    """``plan_accounts`` without locks, for a prediction (the dry-run, the
    reseller's preview): an account whose planning raises is predicted as the
    real run would end it, failed with ``internal_error``, and nothing is
    written (no fault: the real run records it)."""
    plans: list[AccountPlan] = []

    def plan(part: list[int]) -> None:
        plans.extend(plan_accounts(part, on, catalog, lock=False))

    def predicted_failure(customer_id: int, error: BaseException) -> None:
        account = load_accounts([customer_id], lock=False).get(customer_id)
        orders = _due_orders(customer_id, on, catalog)
        if account is not None and orders:
            plans.append(
                AccountPlan(
                    account=account,
                    batch=[PlannedOrder(o, None) for o in orders],
                    outcome=BatchOutcome.FAILED,
                    reason=Reason.INTERNAL_ERROR,
                )
            )

    ids = sorted(customer_ids)
    # Each part in a transaction: consistent reads of a batch on PostgreSQL.
    isolated(
        ids,
        plan,
        stage=Stage.SWEEP,
        subject=lambda customer_id: Subject(key=f"account:{customer_id}"),
        on=on,
        chunk=max(1, len(ids)),
        failed=predicted_failure,
        record=False,
    )
    return sorted(plans, key=lambda p: p.account.customer_id)


def sweep_accounts(customer_ids, *, on: datetime.date, catalog: Catalog, actor: Actor, run=None) -> None:
    """Renew, or fail, each account's batch: all or nothing per account.

    One account's unexpected error never stops the others (SPEC "Faults and
    bad data"): the accounts are swept together, set-based, and a part that
    raises is rolled back and split until the broken accounts are found
    alone; each of those fails with ``internal_error`` and the rest renew.
    """
    ids = sorted(customer_ids)
    card_accounts: list[int] = []
    options = {
        "on": on,
        "run_id": run.pk if run else None,
        "subject": functools.partial(account_subject, on=on, catalog=catalog),
        "failed": functools.partial(internal_error, on=on, catalog=catalog, run=run),
        "atomic": False,  # each step opens its own transaction
    }

    def balance_step(part: list[int]) -> None:
        card_accounts.extend(_balance_step(part, on=on, catalog=catalog, actor=actor, run=run))

    isolated(ids, balance_step, stage=Stage.SWEEP, chunk=max(1, len(ids)), **options)
    # Outside any transaction, no lock across the network; CARD_CONCURRENCY
    # accounts at once, each isolated as ``each`` isolates it.
    card_step(card_accounts, catalog=catalog, actor=actor, run=run, **options)


def _balance_step(customer_ids, *, on: datetime.date, catalog: Catalog, actor: Actor, run) -> list[int]:
    """One transaction: the accounts paid from the balance renewed, those that
    cannot pay failed, all set-based. Returns the accounts left for the card
    path (nothing of theirs is recorded here, so the card path attempts them)."""
    with transaction.atomic():
        plans = plan_accounts(customer_ids, on, catalog, lock=True)
        balance_paid = [p for p in plans if p.outcome == BatchOutcome.RENEWED and not p.needs_card]
        written = write_renewals(
            [_charge(p, catalog) for p in balance_paid], on=on, source=RenewalSource.AUTOMATIC, actor=actor
        )
        invoices = written.invoice_ids
        card_plans = [p for p in plans if p.outcome == BatchOutcome.RENEWED and p.needs_card]
        # An account waiting for its retry policy's next night has nothing recorded tonight.
        recorded = [p for p in plans if p not in card_plans and not p.waiting]
        record_plans(recorded, invoices, on, run)
        failure_notices(_failures([p for p in recorded if p.outcome == BatchOutcome.FAILED], catalog), on)
        finish(written)  # last: it locks the resellers' invoice sequences until the commit
    return [p.account.customer_id for p in card_plans]


def _due_orders(customer_id: int, on: datetime.date, catalog: Catalog) -> list[OrderRow]:
    """The account's orders the sweep looks at on ``on``, read without the
    planning code, which may be what failed."""
    return order_rows(Order.objects.filter(catalog.due_q(on), customer_id=customer_id).order_by("expires_on", "pk"))


def account_subject(customer_id: int, *, on: datetime.date, catalog: Catalog) -> Subject:
    customer = Customer.objects.filter(pk=customer_id).values_list("ref", "name").first() or ("?", "?")
    return Subject(
        key=f"account:{customer_id}",
        label=f"customer {customer[0]} ({customer[1]})",
        customer_id=customer_id,
        orders=tuple(o.ref for o in _due_orders(customer_id, on, catalog)),
    )


def internal_error(customer_id: int, error: BaseException, *, on: datetime.date, catalog: Catalog, run) -> None:
    """The account's batch fails with ``internal_error``, every order it would
    have looked at with it: no failure notice (it is not the customer's to
    fix), and its orders are held from suspension until an attempt ends
    otherwise (renewals.facts.held_orders)."""
    if BatchAttempt.objects.filter(customer_id=customer_id, business_date=on).exists():
        return  # recorded before the error (a card payment in flight): reconciliation settles it
    currency = Account.objects.filter(pk=customer_id).values_list("currency", flat=True).first()
    attempt = BatchAttempt.objects.create(
        customer_id=customer_id,
        business_date=on,
        run=run,
        outcome=BatchOutcome.FAILED,
        reason=Reason.INTERNAL_ERROR,
        total=ZERO,
        currency=currency or "",
    )
    OrderOutcome.objects.bulk_create(
        [
            OrderOutcome(
                order_id=o.id,
                business_date=on,
                cycle=o.expires_on,
                attempt=attempt,
                run=run,
                outcome=BatchOutcome.FAILED,
                reason=Reason.INTERNAL_ERROR,
                expires_on=o.expires_on,
            )
            for o in _due_orders(customer_id, on, catalog)
        ]
    )


def _charge(plan: AccountPlan, catalog: Catalog) -> Charge:
    account = plan.account
    return Charge(
        customer_id=account.customer_id,
        customer_ref=account.ref,
        customer_email=account.email,
        reseller_id=account.reseller_id,
        currency=account.currency,
        balance_before=account.balance,
        lines=[
            Line(
                order_id=p.order.id,
                order_ref=p.order.ref,
                description=catalog.describe(p.order),
                status=p.order.status,
                period=p.period,
                individual=p.order.individual_price is not None,
            )
            for p in plan.batch
        ],
    )


def _failures(plans: list[AccountPlan], catalog: Catalog) -> list[Failure]:
    return [
        Failure(
            customer_id=plan.account.customer_id,
            reseller_id=plan.account.reseller_id,
            email=plan.account.email,
            currency=plan.account.currency,
            orders=[
                FailedOrder(p.order.id, p.order.ref, catalog.describe(p.order), p.order.expires_on, p.period)
                for p in plan.batch
            ],
            total=plan.total,
            reason=plan.reason,
            last_chance_day=catalog.policy_for(plan.account).last_chance_day,
        )
        for plan in plans
    ]
