"""Notices that a date, not an event, brings: renewal decisions, written by
the nightly run for its business date, each once (the outbox's unique key),
caught up with the missed nights like everything else. Each stores the facts
it says (``Notice.data``); notifications renders them.

- ``advance_notice``: 3 days before the first attempt of a cycle, for the
  orders that will auto-renew, one per account: orders, total, funds
  available, what to top up if short.
- ``renewal_reminder``: 30, 7 and 1 days before expiry, for orders that will
  not renew by themselves or whose auto-renewal failed this cycle.
- ``termination_warning``: 3 days before an order in grace is terminated.
"""

import datetime
from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.urls import reverse

from balances.models import Account
from balances.rules import available_funds
from catalog.models import Category, product_label
from core.isolation import Subject, isolated
from core.models import Stage
from core.money import quantize
from notifications.content import money, order_row
from notifications.services import NoticeSpec, notices_create
from orders.models import Order
from orders.states import OrderStatus
from renewals.events import balance_low_events
from renewals.facts import AccountRow, Catalog, OrderRow, account_rows, facts_for, order_rows, terminated_q
from renewals.models import BatchOutcome, OrderOutcome
from renewals.rules import Reason, eligibility

ADVANCE_DAYS = 3
# Where the notices send the customer to pay their open renewals (SPEC "Open
# renewals"): the renewal center's tab that lists them, as a path the
# notice keeps (rendered after the portal's address).
MANUAL_TAB = "manual"
AUTO_TAB = "auto"
WARNING_DAYS = 3
# Accounts whose orders are read, decided and written at a time: a day's
# orders (every order of a million may expire 30 days from a busy night) are
# never all in memory.
PART_ACCOUNTS = 2000


def account_parts(orders):
    """The ``orders`` queryset a part at a time: the orders of the next
    PART_ACCOUNTS accounts, in id order (one keyset query each)."""
    after = 0
    while True:
        ids = list(
            orders.filter(customer_id__gt=after)
            .order_by("customer_id")
            .values_list("customer_id", flat=True)
            .distinct()[:PART_ACCOUNTS]
        )
        if not ids:
            return
        yield orders.filter(customer_id__gt=after, customer_id__lte=ids[-1])
        after = ids[-1]


def notice_row(order: OrderRow, catalog: Catalog, currency: str) -> dict:
    """The order's row as its next renewal would be: period and price (none
    when the plan no longer sells its period: ``price_missing``)."""
    if not catalog.sells(order, currency):
        return order_row(order.ref, catalog.describe(order), order.expires_on)
    period = catalog.next_period(order)
    return order_row(
        order.ref,
        catalog.describe(order),
        order.expires_on,
        start=period.start,
        end=period.end,
        amount=money(period.amount, currency),
    )


def renewal_center_path(tab: str) -> str:
    """The renewal center's tab, as a path: "/renewals/?tab=manual"."""
    return f"{reverse('renewals')}?tab={tab}"


def accounts_of(orders: list[OrderRow], queryset) -> dict[int, AccountRow]:
    """The accounts of ``orders``, read from ``queryset`` (theirs) as a
    subquery: tens of thousands of ids as parameters cost Django more to
    prepare than PostgreSQL to join. An order that moved between the two
    reads has its account read by id."""
    accounts = account_rows(Account.objects.filter(pk__in=queryset.values("customer_id")))
    missing = {o.customer_id for o in orders} - accounts.keys()
    if missing:
        accounts |= account_rows(Account.objects.filter(pk__in=sorted(missing)))
    return accounts


def _write_each_account(groups: dict, build, *, on: datetime.date, run_id: int | None, after=None) -> int:
    """Build and write each account's notices (``build(customer_id, lines)``
    -> a list), all together; an account whose notices cannot be built or
    written is left out, recorded as a fault, and the others are written
    (core.isolation). ``after(part)`` writes what goes with them (webhook
    events), in their transaction. Returns how many accounts were offered
    notices."""

    def write(part: list) -> None:
        notices_create([spec for customer_id in part for spec in build(customer_id, groups[customer_id])])
        if after is not None:
            after(part)

    isolated(
        sorted(groups),
        write,
        stage=Stage.SCHEDULE,
        subject=lambda customer_id: Subject(key=f"account:{customer_id}", customer_id=customer_id),
        on=on,
        run_id=run_id,
        chunk=max(1, len(groups)),
    )
    return len(groups)


def advance_notices(on: datetime.date, catalog: Catalog, *, run_id: int | None = None) -> int:
    """Write the advance notices of business date ``on``; returns how many."""
    attempt_day = on + datetime.timedelta(days=ADVANCE_DAYS)
    due = Order.objects.filter(catalog.window_opens_q(attempt_day), status=OrderStatus.ACTIVE)
    return sum(_advance_part(part, catalog, on, attempt_day, run_id) for part in account_parts(due))


def _advance_part(due, catalog: Catalog, on: datetime.date, attempt_day: datetime.date, run_id: int | None) -> int:
    orders = order_rows(due)
    if not orders:
        return 0
    accounts = accounts_of(orders, due)
    by_account: dict[int, list] = defaultdict(list)
    for order in orders:
        if eligibility(facts_for(order, accounts[order.customer_id], catalog), attempt_day).will_attempt:
            by_account[order.customer_id].append(order)

    shortfalls: dict[int, dict] = {}  # balance.low, for the resellers' webhooks

    def build(customer_id: int, due: list[OrderRow]) -> list[NoticeSpec]:
        account = accounts[customer_id]
        currency = account.currency
        total = sum((catalog.next_period(o).amount for o in due), Decimal("0.00"))
        available = available_funds(account.balance, account.held, account.credit_limit)
        if total > available:
            shortfalls[customer_id] = {
                "customer_id": customer_id,
                "reseller_id": account.reseller_id,
                "attempt_on": attempt_day.isoformat(),
                "currency": currency,
                "total": str(quantize(total, currency)),
                "available": str(quantize(available, currency)),
                "short": str(quantize(total - available, currency)),
                "orders": [{"id": o.id, "ref": o.ref, "expires_on": o.expires_on.isoformat()} for o in due],
            }
        notice = NoticeSpec(
            kind="advance_notice",
            customer_id=customer_id,
            reseller_id=account.reseller_id,
            recipient=account.email,
            subject_key=f"account:{customer_id}",
            cycle=attempt_day.isoformat(),
            business_date=on,
            data={
                "orders": [notice_row(o, catalog, currency) for o in due],
                "total": money(total, currency),
                "attempt_on": attempt_day.isoformat(),
                "available": money(available, currency),
                "short": money(total - available, currency) if total > available else "",
                "renew_path": renewal_center_path(AUTO_TAB),
            },
            order_refs=[o.ref for o in due],
        )
        return [notice]

    def after(part: list) -> None:
        balance_low_events([shortfalls[c] for c in part if c in shortfalls])

    return _write_each_account(by_account, build, on=on, run_id=run_id, after=after)


def termination_warnings(on: datetime.date, *, run_id: int | None = None) -> int:
    """Orders in grace terminated 3 days from ``on``: a warning each, once."""
    graces = dict(Category.objects.values_list("pk", "grace_days"))
    terminate_on = on + datetime.timedelta(days=WARNING_DAYS)
    condition = terminated_q(terminate_on, graces, exact=True)
    rows = Order.objects.filter(condition, status=OrderStatus.SUSPENDED).values_list(
        "pk", "ref", "customer_id", "customer__reseller_id", "customer__email", "expires_on", "plan__name",
        "tenure_months",
    )  # fmt: skip
    by_account: dict[int, list] = defaultdict(list)
    for row in rows:
        by_account[row[2]].append(row)

    def build(customer_id: int, orders: list) -> list[NoticeSpec]:
        return [
            NoticeSpec(
                kind="termination_warning",
                customer_id=customer_id,
                reseller_id=reseller_id,
                recipient=email,
                subject_key=f"order:{pk}",
                cycle=expires_on.isoformat(),
                business_date=on,
                data={
                    "orders": [order_row(ref, product_label(plan, months), expires_on)],
                    "terminate_on": terminate_on.isoformat(),
                },
                order_refs=[ref],
            )
            for pk, ref, _customer_id, reseller_id, email, expires_on, plan, months in orders
        ]

    return _write_each_account(by_account, build, on=on, run_id=run_id)


def renewal_reminders(
    on: datetime.date, catalog: Catalog, days: tuple[int, ...] | None = None, *, run_id: int | None = None
) -> int:
    """SPEC: 30, 7 and 1 days before expiry (settings.RENEWAL_REMINDER_DAYS),
    one per account and day, listing the orders that will not auto-renew and
    those whose auto-renewal failed this cycle; never do-not-renew orders."""
    days = days or tuple(getattr(settings, "RENEWAL_REMINDER_DAYS", (30, 7, 1)))
    written = 0
    for before in days:
        expires = on + datetime.timedelta(days=before)
        day = Order.objects.filter(expires_on=expires, status=OrderStatus.ACTIVE, do_not_renew=False)
        written += sum(_reminders_part(part, catalog, on, before, expires, run_id) for part in account_parts(day))
    return written


def _reminders_part(
    expiring, catalog: Catalog, on: datetime.date, before: int, expires: datetime.date, run_id: int | None
) -> int:
    orders = order_rows(expiring.order_by("pk"))
    if not orders:
        return 0
    accounts = accounts_of(orders, expiring)
    # Failed for a reason of the customer's: an internal error is the operators' to fix.
    failed = set(
        OrderOutcome.objects.filter(order_id__in=expiring.values("pk"), cycle=expires, outcome=BatchOutcome.FAILED)
        .exclude(reason=Reason.INTERNAL_ERROR)
        .values_list("order_id", flat=True)
    )
    by_account: dict[int, list] = defaultdict(list)
    for order in orders:
        verdict = eligibility(facts_for(order, accounts[order.customer_id], catalog), on)
        if verdict.reason is not None or order.id in failed:
            by_account[order.customer_id].append(order)

    def build(customer_id: int, due: list[OrderRow]) -> list[NoticeSpec]:
        account = accounts[customer_id]
        notice = NoticeSpec(
            kind="renewal_reminder",
            customer_id=customer_id,
            reseller_id=account.reseller_id,
            recipient=account.email,
            subject_key=f"account:{customer_id}:{before}d",
            cycle=expires.isoformat(),
            business_date=on,
            data={
                "orders": [notice_row(o, catalog, account.currency) for o in due],
                "expires_on": expires.isoformat(),
                "days": before,
                "failed": [o.ref for o in due if o.id in failed],
                "renew_path": renewal_center_path(MANUAL_TAB),
            },
            order_refs=[o.ref for o in due],
        )
        return [notice]

    return _write_each_account(by_account, build, on=on, run_id=run_id)
