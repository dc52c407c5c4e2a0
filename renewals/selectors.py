"""Reads of the renewal engine for the panels and the API: always scoped to
the acting user."""

import dataclasses
import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from balances.models import Account
from balances.rules import available_funds
from catalog.models import Plan
from core.dates import business_today
from core.errors import NotFound
from orders.models import Order
from orders.states import OrderStatus
from renewals.facts import (
    account_rows,
    facts_for,
    load_catalog,
    order_rows,
    platform_retry_policy,
    retry_policies,
    window_orders,
)
from renewals.models import BatchAttempt, BatchOutcome, OpenRenewalStatus, OrderOutcome
from renewals.open import open_renewals_of
from renewals.payments import mark_usable_cards
from renewals.rules import (
    WHAT_TO_DO,
    Eligibility,
    Reason,
    RetryPolicy,
    eligibility,
    next_attempt_sentence,
    retry_policy_words,
    skip_reason,
    termination_day,
)
from tenants.models import Customer, Reseller
from tenants.scope import Actor, ActorKind


@dataclass(frozen=True)
class RenewalOutlook:
    """ "Why won't this renew?" for one order, in plain words."""

    eligibility: Eligibility
    reason: Reason | None
    sentence: str
    what_to_do: str
    # Why switching the order's auto-renew on would not help (the category,
    # plan or reseller forbids it), or None when the switch decides.
    switch_blocked: Reason | None = None
    # The price its next renewal at its tenure is quoted at (its individual
    # price, else the plan's: renewals.facts.Catalog.next_period), in
    # ``currency``; None when nothing prices it or it never expires.
    renews_at: Decimal | None = None
    currency: str = ""
    # The night it is tried next (``next_attempt_on``): its window's first
    # night, tonight, or its retry policy's next night (docs/dunning.md).
    next_attempt: datetime.date | None = None


# What a customer can do about an order the reseller locked off (or marked
# do-not-renew): the lock keeps them from changing it themselves.
LOCKED_WHAT_TO_DO = "Your provider locked this order's renewal: ask them to change it, or renew it by hand."
LOCKED_REASONS = frozenset({Reason.DO_NOT_RENEW, Reason.ORDER_AUTO_RENEW_OFF})

# Reasons that the order's own switch cannot overcome.
SWITCH_BLOCKERS = frozenset(
    {Reason.ENDLESS_PLAN, Reason.CATEGORY_NOT_SUPPORTED, Reason.NOT_ALLOWED_BY_PLAN, Reason.NOT_ALLOWED_BY_RESELLER}
)


def _engine_facts(orders):
    """What the sweep's eligibility rule reads for ``orders`` (a queryset the
    caller has scoped): their rows, their accounts' rows and the catalog, in
    three queries however many orders."""
    rows = order_rows(orders)
    accounts = account_rows(Account.objects.filter(pk__in={row.customer_id for row in rows}))
    return rows, accounts, load_catalog()


def _renews_sentence(verdict: Eligibility) -> str:
    opens = verdict.window_opens
    return f"It renews automatically: the first attempt is on {opens}." if opens else "It renews automatically."


def order_renewal_outlook(*, actor: Actor, order_id: int, on: datetime.date | None = None) -> RenewalOutlook:
    """Whether the order will renew automatically and, if not, the one reason
    (SPEC precedence) with what to do: the same rule the nightly sweep uses."""
    on = on or business_today()
    orders, accounts, catalog = _engine_facts(Order.objects.visible_to(actor).filter(pk=order_id))
    if not orders:
        raise NotFound(f"order {order_id} not found")
    order = orders[0]
    account = accounts[order.customer_id]
    facts = facts_for(order, account, catalog)
    verdict = eligibility(facts, on)
    priced = order.expires_on is not None and catalog.sells(order, account.currency)
    price = {"renews_at": catalog.next_period(order).amount if priced else None, "currency": account.currency}
    if verdict.reason is None:
        sentence, next_attempt = _renews_sentence(verdict), _next_attempt(order, account, verdict, catalog, on)
        if next_attempt != on and verdict.due:
            sentence = f"It renews automatically: {next_attempt_sentence(next_attempt)}."
        return RenewalOutlook(
            verdict,
            None,
            sentence,
            "Keep enough funds on the account (or a usable card).",
            next_attempt=next_attempt,
            **price,
        )
    switched_on = skip_reason(dataclasses.replace(facts, auto_renew=True, do_not_renew=False))
    blocked = switched_on if switched_on in SWITCH_BLOCKERS else None
    what_to_do = what_to_do_about(facts, verdict.reason, actor.kind)
    return RenewalOutlook(verdict, verdict.reason, verdict.reason.label, what_to_do, blocked, **price)


def what_to_do_about(facts, reason: Reason, kind: str) -> str:
    """What a reader (an actor of ``kind``) can do about an order's
    ``reason`` (``facts``: its renewals.rules.OrderFacts): WHAT_TO_DO, except
    that a customer cannot change a switch its reseller locked. "Why won't
    this renew?" and the renewal calendar (calendars.selectors) say the same."""
    if facts.auto_renew_locked and reason in LOCKED_REASONS and kind == ActorKind.CUSTOMER:
        return LOCKED_WHAT_TO_DO
    return WHAT_TO_DO[reason]


def _next_attempt(order, account, verdict: Eligibility, catalog, on: datetime.date) -> datetime.date | None:
    """The night the sweep next tries the order's account: the window's
    first night before it opens; inside it, the planner's answer for the
    account tonight (the same as the dry-run's and the preview's: an account
    is tried when one order of its batch is on a night its retry policy
    tries); None once the window is over."""
    from renewals.sweep.plan import plan_account

    if verdict.window_opens is None or not verdict.due and verdict.window_opens <= on:
        return None
    if verdict.window_opens > on:
        return verdict.window_opens
    try:
        plan = plan_account(account, window_orders([account.customer_id], on, catalog), catalog, on)
    except ValueError:
        return on  # its reseller's retry policy is unusable: tonight's run fails it (internal_error)
    return plan.next_attempt if plan.waiting else on


@dataclass(frozen=True)
class LockedOrders:
    """The customer's live orders whose renewal the reseller locked."""

    locked: int
    # Of those, the ones that renew by themselves: the account's master
    # switch does not apply to them (SPEC "Auto-renewal").
    renewing: int


def locked_orders_of(*, actor: Actor, customer_id: int) -> LockedOrders:
    """How many of the customer's orders the reseller locked, and how many of
    those renew by themselves whatever the master switch says: by the sweep's
    own rule (``skip_reason``). A fixed number of queries: the orders, the
    account and the catalog."""
    orders = Order.objects.visible_to(actor).filter(customer_id=customer_id, auto_renew_locked=True)
    rows, accounts, catalog = _engine_facts(orders.exclude(status=OrderStatus.TERMINATED))
    renewing = sum(1 for row in rows if skip_reason(facts_for(row, accounts[row.customer_id], catalog)) is None)
    return LockedOrders(locked=len(rows), renewing=renewing)


@dataclass(frozen=True)
class CenterRow:
    """One order in the renewal center."""

    order: object  # orders.Order, with plan, category and customer loaded
    reason: Reason | None
    sentence: str
    next_attempt: datetime.date | None = None
    amount: Decimal | None = None
    funds_cover: bool | None = None
    terminate_on: datetime.date | None = None
    # An open renewal (SPEC "Open renewals"): its period and the date it must
    # be paid by; ``amount`` is then its amount, in ``currency``.
    months: int | None = None
    pay_by: datetime.date | None = None
    currency: str = ""


@dataclass(frozen=True)
class CenterFilters:
    """The renewal center's filters (SPEC "Bulk changes"): a product (plan
    ref), a category (ref), a status, and the paid-thru date within a range
    (either end open)."""

    plan: str = ""
    category: str = ""
    status: str = ""
    expires_from: datetime.date | None = None
    expires_to: datetime.date | None = None

    def __bool__(self) -> bool:
        return any((self.plan, self.category, self.status, self.expires_from, self.expires_to))

    def apply(self, orders: QuerySet) -> QuerySet:
        if self.plan:
            orders = orders.filter(plan__ref=self.plan)
        if self.category:
            orders = orders.filter(plan__category__ref=self.category)
        if self.status:
            orders = orders.filter(status=self.status)
        if self.expires_from:
            orders = orders.filter(expires_on__gte=self.expires_from)
        if self.expires_to:
            orders = orders.filter(expires_on__lte=self.expires_to)
        return orders


def standing_renewal_day(*, actor: Actor, order_id: int) -> int | None:
    """The standing renewal day (SPEC "Standing renewal day") of the account
    the order belongs to, for the renewal page's default alignment; None when
    it has none or the actor does not see the order (the page says so)."""
    return (
        Order.objects.visible_to(actor)
        .filter(pk=order_id)
        .values_list("customer__account__renewal_day", flat=True)
        .first()
    )


def center_products() -> list:
    """The catalog's plans with their categories (shared by every tenant), for
    the renewal center's product and category filters: one query."""
    return list(Plan.objects.select_related("category").order_by("name", "pk"))


CENTER_TABS = (
    ("manual", "Manual renewals"),
    ("auto", "Auto renewals"),
    ("cancelled", "Renewals cancelled"),
    ("grace", "Expired and in grace"),
)
MANUAL_HORIZON_DAYS = 60


def renewal_center(
    *, actor: Actor, tab: str, on: datetime.date | None = None, filters: CenterFilters = CenterFilters()
) -> "CenterRows":
    """The renewal center's tab for the acting customer (or reseller subtree),
    its orders narrowed by ``filters``:

    - manual: the open renewals waiting for payment first (soonest pay-by
      date first, whatever the order's switch), then the active orders
      expiring within 60 days that will not renew by themselves;
    - auto: active orders that will, with the next attempt date and whether the
      funds available cover every renewal due by then;
    - cancelled: orders marked do-not-renew;
    - grace: suspended orders, with the day they will be terminated.

    Every order of the tab is decided (which tab it belongs to, and the auto
    tab's running total, need them all) over plain rows, not models; the
    orders themselves are loaded only for the rows a page shows
    (``CenterRows``). A fixed number of queries: the rows, their accounts and
    the catalog (and the manual tab's open renewals), then one for the page."""
    on = on or business_today()
    orders = filters.apply(Order.objects.visible_to(actor))
    result = []
    if tab == "manual":
        result = _open_rows(actor, orders if filters else None)
    if tab == "cancelled":
        orders = orders.filter(do_not_renew=True, status__in=[OrderStatus.ACTIVE, OrderStatus.SUSPENDED])
    elif tab == "grace":
        orders = orders.filter(status=OrderStatus.SUSPENDED)
    else:
        orders = orders.filter(status=OrderStatus.ACTIVE, do_not_renew=False, expires_on__isnull=False)
        if tab == "manual":
            orders = orders.filter(expires_on__lte=on + datetime.timedelta(days=MANUAL_HORIZON_DAYS))
    rows, accounts, catalog = _engine_facts(orders.order_by("expires_on", "pk"))
    mark_usable_cards(accounts, on)
    listed = {order_id for order_id, _ in result}
    spent: dict[int, Decimal] = {}
    for row in rows:
        if row.id in listed:
            continue
        account = accounts[row.customer_id]
        verdict = eligibility(facts_for(row, account, catalog), on)
        sentence = verdict.reason.label if verdict.reason else "Renews automatically."
        if tab in ("grace", "cancelled") or (tab == "manual" and verdict.reason is not None):
            result.append((row.id, {"reason": verdict.reason, "sentence": sentence}))
        elif tab == "auto" and verdict.reason is None:
            amount = catalog.next_period(row).amount
            # In date order: does what is available cover this and every earlier renewal?
            spent[account.customer_id] = spent.get(account.customer_id, Decimal("0")) + amount
            available = available_funds(account.balance, account.held, account.credit_limit)
            attempt = max(verdict.window_opens, on) if verdict.window_opens else on
            cover = spent[account.customer_id] <= available or account.card_usable
            result.append(
                (row.id, {"reason": None, "sentence": sentence, "next_attempt": attempt, "amount": amount,
                          "funds_cover": cover})
            )  # fmt: skip
    return CenterRows(actor, result, grace=tab == "grace")


def _open_rows(actor: Actor, orders: QuerySet | None) -> list[tuple[int, dict]]:
    """The actor's open renewals (of ``orders`` when filtered), as the manual
    tab's first rows: one query on the open renewals' index."""
    opened = open_renewals_of(actor=actor, status=OpenRenewalStatus.OPEN)
    if orders is not None:
        opened = opened.filter(order_id__in=orders.values("pk"))
    rows = {}
    for order_id, months, amount, currency, pay_by in opened.values_list(
        "order_id", "months", "amount", "currency", "pay_by"
    ):
        rows.setdefault(
            order_id,
            {
                "reason": None,
                "sentence": f"Waiting for payment: pay by {pay_by}.",
                "months": months,
                "amount": amount,
                "currency": currency,
                "pay_by": pay_by,
            },
        )
    return list(rows.items())


class CenterRows(Sequence):
    """A tab's rows, decided; each row's order (with plan, category and
    customer) is loaded when the row is read, in one query for a slice or a
    page (a Paginator reads only its page), so a tab of thousands costs the
    same as a tab of ten."""

    def __init__(self, actor: Actor, decided: list[tuple[int, dict]], *, grace: bool):
        self.actor = actor
        self.decided = decided
        self.grace = grace

    def __len__(self) -> int:
        return len(self.decided)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self._rows(self.decided[index])
        return self._rows([self.decided[index]])[0]

    def __iter__(self):
        return iter(self._rows(self.decided))

    def order_ids(self) -> list[int]:
        return [order_id for order_id, _ in self.decided]

    def open_months(self) -> dict[int, int]:
        """{order id: months} of the rows that are open renewals: each is
        renewed for its open renewal's period."""
        return {order_id: fields["months"] for order_id, fields in self.decided if fields.get("months")}

    def _rows(self, decided) -> list[CenterRow]:
        ids = [order_id for order_id, _ in decided]
        orders = Order.objects.visible_to(self.actor).select_related("plan__category", "customer").in_bulk(ids)
        rows = []
        for order_id, fields in decided:
            order = orders[order_id]
            if self.grace:
                fields = {**fields, "terminate_on": termination_day(order.expires_on, order.plan.category.grace_days)}
            rows.append(CenterRow(order, **fields))
        return rows


@dataclass(frozen=True)
class PreviewLine:
    """One customer in the sweep preview, with what the page says about it."""

    plan: object  # renewals.sweep.plan.AccountPlan
    batch: list  # (PlannedOrder, product label)
    from_balance: Decimal
    from_card: Decimal
    what_to_do: str  # for the batch's failure reason, "" when it renews
    skipped: list  # (PlannedOrder, product label, what to do)

    @property
    def shortfall(self) -> Decimal:
        return self.plan.shortfall

    @property
    def next_attempt(self) -> datetime.date | None:
        """The night the run tries the customer's batch: the preview's, or
        for one its retry policy keeps waiting, that policy's next night."""
        return self.plan.next_attempt

    @property
    def next_attempt_sentence(self) -> str:
        return next_attempt_sentence(self.plan.next_attempt)


# Failing customers first: they are what a reseller can still act on today.
_OUTCOME_ORDER = {BatchOutcome.FAILED: 0, BatchOutcome.PENDING: 1, BatchOutcome.RENEWED: 2, "": 3}


@dataclass(frozen=True)
class Preview:
    """The dry-run of the next nightly run, for the acting reseller's subtree."""

    on: datetime.date
    plans: list  # renewals.sweep.plan.AccountPlan, one per customer with due orders
    catalog: object = None  # renewals.facts.Catalog, for the products' names

    @property
    def failing(self) -> list:
        return [p for p in self.plans if p.outcome == BatchOutcome.FAILED]

    def lines(self) -> list[PreviewLine]:
        describe = self.catalog.describe
        lines = [
            PreviewLine(
                plan=plan,
                batch=[(item, describe(item.order)) for item in plan.batch],
                # A usable card pays the card-sourced part and what the balance lacks.
                from_balance=plan.from_balance,
                from_card=plan.card_amount,
                what_to_do=WHAT_TO_DO.get(plan.reason, "") if plan.reason else "",
                skipped=[(item, describe(item.order), WHAT_TO_DO.get(item.reason, "")) for item in plan.skipped],
            )
            for plan in self.plans
        ]
        return sorted(
            lines, key=lambda line: (_OUTCOME_ORDER.get(line.plan.outcome, 9), line.plan.account.name.lower())
        )

    def summary(self) -> dict:
        plans = self.plans
        totals: dict[str, Decimal] = {}
        for plan in plans:
            if plan.outcome == BatchOutcome.RENEWED:
                totals[plan.account.currency] = totals.get(plan.account.currency, Decimal("0.00")) + plan.total
        return {
            "customers": len(plans),
            "renewing": sum(1 for p in plans if p.outcome == BatchOutcome.RENEWED),
            "renewing_orders": sum(len(p.batch) for p in plans if p.outcome == BatchOutcome.RENEWED),
            "failing": len(self.failing),
            "failing_orders": sum(len(p.batch) for p in self.failing),
            "skipped_orders": sum(len(p.skipped) for p in plans),
            "waiting": sum(1 for p in plans if p.waiting),
            "totals": sorted(totals.items()),
        }


def next_run_date(today: datetime.date | None = None) -> datetime.date:
    """The business date the next nightly run will run: today's, unless it ran already."""
    from renewals.sweep.run import last_completed_date

    today = today or business_today()
    return today + datetime.timedelta(days=1) if last_completed_date(today) == today else today


def sweep_preview(*, actor: Actor, on: datetime.date | None = None) -> Preview:
    """What the nightly run would do for the customers the actor sees: the
    same planning code as the run and its dry-run, reading only."""
    from renewals.sweep.execute import plan_accounts_predicted

    on = on or next_run_date()
    catalog = load_catalog(held=True)
    ids = list(
        Order.objects.filter(catalog.due_q(on), customer_id__in=Customer.objects.visible_to(actor).values("pk"))
        .exclude(customer_id__in=BatchAttempt.objects.filter(business_date=on).values("customer_id"))
        .order_by("customer_id")
        .values_list("customer_id", flat=True)
        .distinct()
    )
    plans = []
    for start in range(0, len(ids), 1000):
        plans += plan_accounts_predicted(ids[start : start + 1000], on, catalog)
    return Preview(on, plans, catalog)


def failed_batches(*, actor: Actor, since_days: int = 30):
    """The failed nightly batches of the customers the actor sees, of the last
    ``since_days`` business dates (today included), newest first.

    Scoped through the actor's visible customers (one subquery), the same
    scope as every other read of the panels."""
    first = business_today() - datetime.timedelta(days=since_days - 1)
    return (
        BatchAttempt.objects.filter(customer_id__in=Customer.objects.visible_to(actor).values("pk"))
        .filter(outcome=BatchOutcome.FAILED, business_date__gte=first)
        .select_related("customer")
        .order_by("-business_date", "-pk")
    )


def customers_of(*, actor: Actor, query: str = "", failing_only: bool = False) -> QuerySet:
    """The customers of the acting reseller's subtree with their balance,
    order counts and failed renewals, in one query whatever the number of rows
    (the counts are evaluated for the rows a page shows)."""
    orders = Order.objects.filter(customer_id=OuterRef("pk"))
    customers = (
        Customer.objects.visible_to(actor)
        .select_related("account", "reseller")
        .annotate(
            orders_active=_count(orders.filter(status=OrderStatus.ACTIVE)),
            orders_suspended=_count(orders.filter(status=OrderStatus.SUSPENDED)),
            failed_renewals=_count(orders.filter(Exists(_failed_for_the_cycle()), status=OrderStatus.ACTIVE)),
        )
        .order_by("name", "pk")
    )
    if query:
        customers = customers.filter(Q(name__icontains=query) | Q(ref__icontains=query) | Q(email__icontains=query))
    if failing_only:
        customers = customers.filter(pk__in=_failing_customers(actor))
    return customers


def customer_counts(*, actor: Actor) -> dict[str, int]:
    """{"customers", "failing"} for the acting reseller's subtree, in one
    query: the failing ones as one set (a join), not a count per customer."""
    return Customer.objects.visible_to(actor).aggregate(
        customers=Count("pk"), failing=Count("pk", filter=Q(pk__in=_failing_customers(actor)))
    )


def _failed_for_the_cycle():
    """The outer order's auto-renewal failed for its current cycle."""
    return OrderOutcome.objects.filter(
        order_id=OuterRef("pk"), cycle=OuterRef("expires_on"), outcome=BatchOutcome.FAILED
    )


def _failing_customers(actor: Actor) -> QuerySet:
    """Ids of the customers with an active order whose auto-renewal failed
    for its current cycle (failed_renewals > 0), as one set."""
    failing = Order.objects.visible_to(actor).filter(Exists(_failed_for_the_cycle()), status=OrderStatus.ACTIVE)
    return failing.values("customer_id")


def _count(rows: QuerySet):
    """How many of ``rows`` (correlated to the outer customer), as a subquery."""
    return Coalesce(Subquery(rows.order_by().values("customer_id").annotate(n=Count("pk")).values("n")[:1]), 0)


def orders_outlook(*, actor: Actor, orders, on: datetime.date | None = None) -> dict[int, tuple[Reason | None, str]]:
    """{order id: (reason or None, sentence)} for a page of orders: whether
    each will renew automatically and, if not, the one reason (SPEC
    precedence), by the same rule as ``order_renewal_outlook`` and the sweep.

    A fixed number of queries whatever the page holds: the orders' rows, their
    accounts and the catalog. Orders the actor does not see are left out."""
    on = on or business_today()
    ids = [order.pk for order in orders]
    if not ids:
        return {}
    rows, accounts, catalog = _engine_facts(Order.objects.visible_to(actor).filter(pk__in=ids))
    outlook = {}
    for row in rows:
        verdict = eligibility(facts_for(row, accounts[row.customer_id], catalog), on)
        outlook[row.id] = (verdict.reason, verdict.reason.label if verdict.reason else _renews_sentence(verdict))
    return outlook


def next_attempt_on(outlook: RenewalOutlook, on: datetime.date) -> datetime.date | None:
    """The business date of the order's next automatic attempt: the day its
    window opens, ``on`` while the window is open and its retry policy tries
    it tonight, else the policy's next night (docs/dunning.md); None when it
    will not renew by itself (or its window has passed)."""
    return None if outlook.reason is not None else outlook.next_attempt


@dataclass(frozen=True)
class RetryPolicyRow:
    """A reseller of the acting one's subtree (itself first) with the retry
    policy its customers get (docs/dunning.md)."""

    reseller: Reseller
    policy: RetryPolicy
    words: str  # the policy in plain words
    source: str  # "its own", "inherited from <name>", "the platform's"


def retry_policy_rows(*, actor: Actor) -> list[RetryPolicyRow]:
    """The acting reseller and its sub-resellers, each with its effective
    retry policy, resolved as the nightly run resolves it
    (renewals.facts.retry_policies): two queries, the subtree and the
    resellers above it (whose policy it may inherit). Resellers are few."""
    if actor.kind != ActorKind.RESELLER or not actor.reseller_path:
        return []
    subtree = list(Reseller.objects.visible_to(actor).select_related("parent").order_by("path"))
    above = [int(part) for part in actor.reseller_path.strip("/").split("/")[:-1] if part]
    everyone = {r.pk: r for r in [*Reseller.objects.filter(pk__in=above), *subtree]}
    platform = platform_retry_policy()
    policies = retry_policies(
        {pk: (r.path, r.retry_own, r.retry_days, r.last_chance_day) for pk, r in everyone.items()}, platform
    )
    rows = []
    for reseller in subtree:
        chain = [int(part) for part in reseller.path.strip("/").split("/") if part]
        giver = next((everyone[pk] for pk in reversed(chain) if pk in everyone and everyone[pk].retry_own), None)
        source = (
            "the platform's"
            if giver is None
            else "its own"
            if giver.pk == reseller.pk
            else f"inherited from {giver.name}"
        )
        policy = policies[reseller.pk]
        if isinstance(policy, str):  # bad data behind the doors' back: said, never raised
            rows.append(RetryPolicyRow(reseller, platform, f"unusable: {policy}", source))
            continue
        rows.append(RetryPolicyRow(reseller, policy, retry_policy_words(policy), source))
    return rows
