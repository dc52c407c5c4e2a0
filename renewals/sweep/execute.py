"""The real sweep of one batch of accounts: one transaction, the accounts
locked in id order, then a fixed number of set-based statements whatever the
batch holds."""

import datetime
from collections import defaultdict

from django.db import transaction

from core.money import format_amount
from core.sql import db_now, insert_rows
from invoices.models import RenewalSource
from notifications.services import NoticeSpec, notices_create
from renewals.card_path import card_batch, claimed_orders
from renewals.facts import Catalog, OrderRow, load_accounts, window_orders
from renewals.models import BatchAttempt, BatchOutcome, OrderOutcome
from renewals.payments import mark_usable_cards
from renewals.rules import WHAT_TO_DO, Reason
from renewals.sweep.plan import AccountPlan, plan_account
from renewals.writer import Charge, Line, finish, write_renewals
from tenants.scope import Actor


def plan_accounts(customer_ids, on: datetime.date, catalog: Catalog, *, lock: bool) -> list[AccountPlan]:
    """Plan the accounts not yet attempted on ``on`` (the shared read path of
    the real run and the dry-run)."""
    accounts = load_accounts(customer_ids, lock=lock)
    attempted = set(
        BatchAttempt.objects.filter(customer_id__in=list(accounts), business_date=on).values_list(
            "customer_id", flat=True
        )
    )
    accounts = {pk: a for pk, a in accounts.items() if pk not in attempted}
    mark_usable_cards(accounts)
    claimed = claimed_orders(accounts) if catalog.claims_open else set()
    by_customer: dict[int, list[OrderRow]] = defaultdict(list)
    for order in window_orders(accounts, on, catalog):
        by_customer[order.customer_id].append(order)
    plans = [plan_account(accounts[pk], by_customer[pk], catalog, on, claimed) for pk in sorted(by_customer)]
    return [p for p in plans if p.due]


def sweep_accounts(customer_ids, *, on: datetime.date, catalog: Catalog, actor: Actor, run=None) -> list[AccountPlan]:
    """Renew, or fail, each account's batch: all or nothing per account."""
    with transaction.atomic():
        plans = plan_accounts(customer_ids, on, catalog, lock=True)
        balance_paid = [p for p in plans if p.outcome == BatchOutcome.RENEWED and not p.needs_card]
        written = write_renewals(
            [_charge(p, catalog) for p in balance_paid], on=on, source=RenewalSource.AUTOMATIC, actor=actor
        )
        invoices = written.invoice_ids
        # Batches that need a card charge are left to the card path: nothing
        # of theirs is recorded here, so the card path attempts them.
        card_plans = [p for p in plans if p.outcome == BatchOutcome.RENEWED and p.needs_card]
        recorded = [p for p in plans if p not in card_plans]
        record_plans(recorded, invoices, on, run)
        _failure_notices([p for p in recorded if p.outcome == BatchOutcome.FAILED], on)
        finish(written)  # last: it locks the resellers' invoice sequences until the commit
    # One account at a time, outside any transaction: no lock across the network.
    for plan in card_plans:
        card_batch(plan.account.customer_id, on=on, catalog=catalog, actor=actor, run=run)
    return plans


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
                description=f"{catalog.plans[p.order.plan_id].name}, {p.order.tenure_months} month(s)",
                status=p.order.status,
                period=p.period,
            )
            for p in plan.batch
        ],
    )


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
            outcome = BatchOutcome.PENDING if p.reason == Reason.PAYMENT_UNKNOWN else "skipped"
            rows.append(
                (p.order.id, on, p.order.expires_on, attempt, run_id, outcome, p.reason, None, p.order.expires_on)
            )
    insert_rows(
        OrderOutcome,
        ("order_id", "business_date", "cycle", "attempt_id", "run_id", "outcome", "reason", "amount", "expires_on"),
        rows,
    )
    return attempt_ids


def _failure_notices(plans: list[AccountPlan], on: datetime.date) -> None:
    """SPEC: ``renewal_failed`` on the first failed attempt of a cycle,
    ``renewal_last_chance`` on the expiry day (alone when the first failure
    falls on it), ``reseller_failure`` to the reseller on both occasions."""
    if not plans:
        return
    order_ids = [p.order.id for plan in plans for p in plan.batch]
    failed_before = set(
        OrderOutcome.objects.filter(
            order_id__in=order_ids, outcome=BatchOutcome.FAILED, business_date__lt=on
        ).values_list("order_id", "cycle")
    )
    from tenants.models import Reseller

    resellers = dict(Reseller.objects.filter(pk__in={p.account.reseller_id for p in plans}).values_list("pk", "email"))
    specs = []
    for plan in plans:
        account = plan.account
        orders = [p.order for p in plan.batch]
        first = [o for o in orders if (o.id, o.expires_on) not in failed_before]
        last_day = [o for o in orders if o.expires_on == on]
        refs = [o.ref for o in orders]
        reason = Reason(plan.reason)
        lines = "\n".join(f"  {o.ref}  paid thru {o.expires_on}" for o in orders)
        text = (
            f"We could not renew {len(orders)} order(s) totalling {format_amount(plan.total)} {account.currency}:\n"
            f"{lines}\nWhy: {reason.label}\nWhat to do: {WHAT_TO_DO[reason]}\n"
        )
        common = {
            "customer_id": account.customer_id,
            "reseller_id": account.reseller_id,
            "business_date": on,
            "order_refs": refs,
            "cycle": on.isoformat(),
            "subject_key": f"account:{account.customer_id}",
        }
        kinds = []
        if last_day:
            kinds.append(("renewal_last_chance", "Last chance: your orders expire today"))
        if first and not all(o.expires_on == on for o in first):
            kinds.append(("renewal_failed", "Your automatic renewal failed"))
        for kind, subject in kinds:
            specs.append(NoticeSpec(kind=kind, recipient=account.email, subject=subject, body_text=text, **common))
        if kinds and resellers.get(account.reseller_id) is not None:
            specs.append(
                NoticeSpec(
                    kind="reseller_failure",
                    recipient=resellers[account.reseller_id],
                    subject=f"Renewal failed for {account.name} ({account.ref})",
                    body_text=f"Customer {account.name} ({account.ref}):\n{text}",
                    **common,
                )
            )
    # Keyed by account and date, which the batch attempt just claimed.
    notices_create(specs, new=True)
