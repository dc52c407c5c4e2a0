"""Loading what the rules need, in few queries, as plain values.

``Catalog`` is read once per run (plans, categories, the reseller tree);
accounts and orders are read per batch of accounts.
"""

import dataclasses
import datetime
import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q

from balances.models import Account
from catalog.models import Plan, PlanPrice, product_label
from catalog.rules import DAYS_PER_MONTH_FOR_LEAD
from core.sql import ids_in
from orders.models import AfterRenewal, Order
from orders.states import OrderStatus
from renewals.rules import (
    EVERY_NIGHT,
    LONG_LEAD_DAYS,
    SHORT_LEAD_DAYS,
    SHORT_TENURE_MONTHS,
    SUSPENDED_AFTER_DAYS,
    OrderFacts,
    Period,
    Reason,
    RetryPolicy,
    renewal_period,
    renewal_price,
)
from tenants.models import Customer, Reseller
from tenants.rules import auto_renew_forbidden, retry_policy_problem
from webhooks.services import subscriptions_refresh


@dataclass(frozen=True)
class PlanInfo:
    name: str
    endless: bool
    auto_renew_allowed: bool
    lead_days: int | None
    category_supported: bool
    currency: str
    prices: dict[int, Decimal]


@dataclass(frozen=True)
class Catalog:
    plans: dict[int, PlanInfo]
    forbidden_resellers: frozenset[int]
    # Orders held back by an internal error when the run began (held_orders):
    # the sweep retries them past their paid-thru date too. Few, if any.
    held: frozenset[int] = frozenset()
    # The distinct auto-renew points orders carry of their own (Order.lead_days);
    # None: read from the database when a query first needs them (``own_leads``).
    order_leads: frozenset[int] | None = None
    # Dunning: each reseller's effective retry policy (its own, else the
    # nearest one up its chain, else ``platform_policy``), or the sentence
    # saying why the one it gets is unusable (bad data that got past the
    # doors: only the accounts under it fail, with internal_error).
    retry_policies: dict[int, RetryPolicy | str] = dataclasses.field(default_factory=dict)
    platform_policy: RetryPolicy = EVERY_NIGHT

    def policy_for(self, account: "AccountRow") -> RetryPolicy:
        """The account's retry policy: every night when it is exempt, else
        its reseller's (resolved once per catalog). Raises ValueError for a
        reseller whose policy is unusable."""
        if account.retry_exempt:
            return EVERY_NIGHT
        policy = self.retry_policies.get(account.reseller_id, self.platform_policy)
        if isinstance(policy, str):
            raise ValueError(f"reseller {account.reseller_id}: its retry policy is unusable: {policy}")
        return policy

    @functools.cached_property
    def own_leads(self) -> tuple[int, ...]:
        """The distinct own lead days of orders: a handful of values whatever
        the number of orders, read once per catalog (once per run)."""
        if self.order_leads is not None:
            return tuple(sorted(self.order_leads))
        rows = Order.objects.filter(lead_days__isnull=False).order_by("lead_days").values_list("lead_days", flat=True)
        return tuple(rows.distinct())

    def by_lead_days(self, condition: Callable[[datetime.timedelta], Q]) -> Q:
        """``condition(lead)``, a condition on expires_on, applied with each
        order's own lead days (renewals.rules.lead_days: 7 or 30 by tenure, the
        plan's override, or the order's own while it fits its tenure,
        renewals.rules.own_lead_fits) as one indexed query condition: one
        branch per distinct lead, each a range of expires_on."""
        overrides: dict[int, list[int]] = {}
        for pk, plan in self.plans.items():
            if plan.lead_days is not None:
                overrides.setdefault(plan.lead_days, []).append(pk)
        days = datetime.timedelta
        plain = (Q(tenure_months__lte=SHORT_TENURE_MONTHS) & condition(days(SHORT_LEAD_DAYS))) | (
            Q(tenure_months__gt=SHORT_TENURE_MONTHS) & condition(days(LONG_LEAD_DAYS))
        )
        by_plan = ~Q(plan_id__in=[pk for pks in overrides.values() for pk in pks]) & plain
        for lead, pks in overrides.items():
            by_plan |= Q(plan_id__in=pks) & condition(days(lead))
        if not self.own_leads:
            return by_plan
        # The order's own lead wins where it fits the tenure (tenure * 28 > lead).
        plan_decides = Q(lead_days__isnull=True)
        own = Q(pk__in=[])
        for lead in self.own_leads:
            shortest = lead // DAYS_PER_MONTH_FOR_LEAD
            plan_decides |= Q(lead_days=lead, tenure_months__lte=shortest)
            own |= Q(lead_days=lead, tenure_months__gt=shortest) & condition(days(lead))
        return (plan_decides & by_plan) | own

    def describe(self, order: "OrderRow") -> str:
        return product_label(self.plans[order.plan_id].name, order.tenure_months)

    def price(self, order: "OrderRow") -> Decimal | None:
        """The price of the order's next renewal at its tenure
        (renewals.rules.renewal_price: its individual price, else the plan's),
        or None when nothing prices it."""
        plan = self.plans[order.plan_id]
        return renewal_price(plan.prices, order.tenure_months, order.tenure_months, order.individual_price)

    def sells(self, order: "OrderRow", currency: str) -> bool:
        """Whether the order's tenure is priced (its individual price, or the
        plan still sells it), in ``currency``."""
        return self.plans[order.plan_id].currency == currency and self.price(order) is not None

    def next_period(self, order: "OrderRow") -> Period:
        """The period (and price) the order's next renewal at its tenure buys
        (only for an order that the catalog ``sells``): the engine's one quote
        path, for the sweep, its preview, the notices and open renewals."""
        return renewal_period(
            expires_on=order.expires_on,
            anchor_day=order.anchor_day,
            months=order.tenure_months,
            price=self.price(order),
            currency=self.plans[order.plan_id].currency,
        )

    def window_q(self, on: datetime.date) -> Q:
        """Orders whose attempt window holds ``on`` (renewals.rules.is_due)."""
        return Q(expires_on__gte=on) & self.by_lead_days(lambda lead: Q(expires_on__lte=on + lead))

    def window_opens_q(self, on: datetime.date) -> Q:
        """Orders whose attempt window opens on ``on`` (the rules'
        ``eligibility(...).window_opens``): their first attempt's day."""
        return self.by_lead_days(lambda lead: Q(expires_on=on + lead))

    def due_q(self, on: datetime.date) -> Q:
        """Orders the sweep looks at on ``on``: those whose window holds it,
        and those held back by an internal error."""
        window = self.window_q(on)
        return window | Q(pk__in=sorted(self.held)) if self.held else window


def load_catalog(*, held: bool = False) -> Catalog:
    """The catalog for rules and planning; ``held``: with the orders held back
    by an internal error (the nightly run and its predictions)."""
    prices: dict[int, dict[int, Decimal]] = {}
    for plan_id, months, amount in PlanPrice.objects.values_list("plan_id", "months", "amount"):
        prices.setdefault(plan_id, {})[months] = amount
    plans = {
        p.pk: PlanInfo(
            name=p.name,
            endless=p.endless,
            auto_renew_allowed=p.auto_renew_allowed,
            lead_days=p.lead_days,
            # A category that asks for a CSR at renewal cannot renew by itself (SPEC "SSL renewals").
            category_supported=p.category.auto_renew_supported and not p.category.renewal_needs_csr,
            currency=p.currency,
            prices=prices.get(p.pk, {}),
        )
        for p in Plan.objects.select_related("category")
    }
    resellers = list(
        Reseller.objects.values_list("pk", "path", "allow_auto_renew", "retry_own", "retry_days", "last_chance_day")
    )
    forbidden = auto_renew_forbidden({row[0]: row[1] for row in resellers}, [row[0] for row in resellers if not row[2]])
    if held:
        # The nightly run and its predictions: the resellers' webhook
        # subscriptions resolved once, from the resellers just read (one
        # query more), so a batch with no subscriber writes nothing more.
        subscriptions_refresh(paths={row[0]: row[1] for row in resellers})
    platform = platform_retry_policy()
    return Catalog(
        plans=plans,
        forbidden_resellers=frozenset(forbidden),
        held=frozenset(held_orders().values_list("pk", flat=True)) if held else frozenset(),
        retry_policies=retry_policies(
            {pk: (path, own, days, last) for pk, path, _, own, days, last in resellers}, platform
        ),
        platform_policy=platform,
    )


def platform_retry_policy() -> RetryPolicy:
    """The platform's retry policy (settings.RENEWAL_RETRY_DAYS and
    RENEWAL_LAST_CHANCE_DAY, checked when the settings load)."""
    days = getattr(settings, "RENEWAL_RETRY_DAYS", None)
    return RetryPolicy(
        None if days is None else frozenset(days), int(getattr(settings, "RENEWAL_LAST_CHANCE_DAY", 0) or 0)
    )


def account_retry_policy(customer_id: int) -> RetryPolicy:
    """One account's retry policy (as ``Catalog.policy_for`` resolves it), in
    two queries, for a path that has no catalog (a card batch's settlement).
    An unusable one counts as the platform's: a notice is still decided."""
    platform = platform_retry_policy()
    row = Customer.objects.filter(pk=customer_id).values_list("retry_exempt", "reseller_id", "reseller__path").first()
    if row is None or row[0]:
        return EVERY_NIGHT
    chain = [int(part) for part in row[2].strip("/").split("/") if part]
    resellers = {
        pk: (path, own, days, last)
        for pk, path, own, days, last in Reseller.objects.filter(pk__in=chain).values_list(
            "pk", "path", "retry_own", "retry_days", "last_chance_day"
        )
    }
    policy = retry_policies(resellers, platform).get(row[1], platform)
    return platform if isinstance(policy, str) else policy


def retry_policies(resellers: dict[int, tuple], platform: RetryPolicy) -> dict[int, RetryPolicy | str]:
    """{reseller id: its effective retry policy} from {id: (path, retry_own,
    retry_days, last_chance_day)}: the nearest reseller up the path (itself
    first) that sets its own, else ``platform``. A policy the rule refuses
    (tenants.rules.retry_policy_problem) is its sentence instead."""
    own: dict[int, RetryPolicy | str] = {}
    for pk, (_, retry_own, days, last) in resellers.items():
        if retry_own:
            problem = retry_policy_problem(days, last)
            own[pk] = problem or RetryPolicy(None if days is None else frozenset(days), last)
    effective: dict[int, RetryPolicy | str] = {}
    for pk, (path, *_) in resellers.items():
        chain = [int(part) for part in path.strip("/").split("/") if part] or [pk]
        effective[pk] = next((own[up] for up in reversed(chain) if up in own), platform)
    return effective


@dataclass(slots=True)
class AccountRow:
    customer_id: int
    ref: str
    name: str
    email: str
    reseller_id: int
    allow_auto_renew: bool
    balance: Decimal
    credit_limit: Decimal
    currency: str
    auto_renew: bool
    held: Decimal  # reserved by card payments in flight
    retry_exempt: bool = False  # tried every night, whatever its reseller's retry policy
    card_usable: bool = False

    @property
    def spendable(self) -> Decimal:
        """The balance a new batch may use: what card payments hold is taken."""
        return self.balance - self.held


ACCOUNT_COLUMNS = (
    "customer_id",
    "customer__ref",
    "customer__name",
    "customer__email",
    "customer__reseller_id",
    "customer__allow_auto_renew",
    "balance",
    "credit_limit",
    "currency",
    "auto_renew",
    "held",
    "customer__retry_exempt",
)


def account_rows(queryset) -> dict[int, AccountRow]:
    return {row[0]: AccountRow(*row) for row in queryset.values_list(*ACCOUNT_COLUMNS)}


def load_accounts(customer_ids, *, lock: bool) -> dict[int, AccountRow]:
    """Accounts by customer id; with ``lock``, under row locks taken in id order.

    The accounts, then their customers in a second statement by the id range
    too (a batch holds consecutive due accounts): joined in one, the planner
    hashes every customer of the portal for each batch."""
    ids = list(customer_ids)
    if not ids:
        return {}
    accounts = Account.objects.filter(ids_in("pk", ids)).order_by("pk")
    if lock:
        accounts = accounts.select_for_update()
    rows = list(accounts.values_list("customer_id", "balance", "credit_limit", "currency", "auto_renew", "held"))
    customers = {
        row[0]: row
        for row in Customer.objects.filter(
            ids_in("pk", [row[0] for row in rows]), pk__range=(min(ids), max(ids))
        ).values_list("pk", "ref", "name", "email", "reseller_id", "allow_auto_renew", "retry_exempt")
    }
    return {pk: AccountRow(*customers[pk][:6], balance, limit, currency, auto_renew, held, customers[pk][6])
            for pk, balance, limit, currency, auto_renew, held in rows}  # fmt: skip


@dataclass(slots=True)
class OrderRow:
    id: int
    ref: str
    customer_id: int
    plan_id: int
    tenure_months: int
    expires_on: datetime.date | None
    anchor_day: int | None
    status: str
    auto_renew: bool
    do_not_renew: bool
    locked: bool
    stopped: bool
    pending_action: bool
    payment_source: str
    auto_renew_locked: bool
    # SPEC "Per-order settings": its own auto-renew point, its individual
    # price and what that price does after the renewal it prices.
    lead_days: int | None = None
    individual_price: Decimal | None = None
    after_renewal: str = AfterRenewal.KEEP.value


ORDER_COLUMNS = tuple(OrderRow.__dataclass_fields__)


def order_rows(queryset) -> list[OrderRow]:
    return [OrderRow(*row) for row in queryset.values_list(*ORDER_COLUMNS)]


def window_orders(customer_ids, on: datetime.date, catalog: Catalog) -> list[OrderRow]:
    """Orders of these customers whose attempt window holds ``on`` (and those
    held back by an internal error)."""
    queryset = Order.objects.filter(catalog.due_q(on), ids_in("customer_id", customer_ids))
    return order_rows(queryset.order_by("customer_id", "expires_on", "pk"))


def facts_key(order: OrderRow, account: AccountRow) -> tuple:
    """Everything ``facts_for`` reads of an order and its account (the
    catalog is the run's): orders with one key have the same facts, so the
    planner asks the rules once per key (many orders share one). A field
    ``facts_for`` reads belongs here too (tests/renewals/test_plan.py)."""
    return (
        order.plan_id, order.expires_on, order.tenure_months, order.status, order.auto_renew, order.do_not_renew,
        order.locked, order.stopped, order.pending_action, order.auto_renew_locked, order.lead_days,
        order.individual_price is None,
        account.reseller_id, account.allow_auto_renew, account.auto_renew, account.currency,
    )  # fmt: skip


def facts_for(order: OrderRow, account: AccountRow, catalog: Catalog) -> OrderFacts:
    plan = catalog.plans[order.plan_id]
    return OrderFacts(
        expires_on=order.expires_on,
        tenure_months=order.tenure_months,
        status=order.status,
        auto_renew=order.auto_renew,
        do_not_renew=order.do_not_renew,
        locked=order.locked,
        stopped=order.stopped,
        pending_action=order.pending_action,
        plan_endless=plan.endless,
        plan_auto_renew_allowed=plan.auto_renew_allowed,
        plan_lead_days=plan.lead_days,
        category_auto_renew_supported=plan.category_supported,
        reseller_allows=account.allow_auto_renew and account.reseller_id not in catalog.forbidden_resellers,
        account_auto_renew=account.auto_renew,
        priced=catalog.sells(order, account.currency),
        auto_renew_locked=order.auto_renew_locked,
        order_lead_days=order.lead_days,
    )


def held_orders():
    """Active orders held back by an internal error (SPEC "Faults and bad
    data"): the last attempt of their current cycle failed with
    ``internal_error``. They are not suspended while that lasts, and the sweep
    retries their account every night, past the paid-thru date too, until an
    attempt ends otherwise (renewed, failed for a reason of the customer's, or
    skipped) or an operator renews or extends them."""
    from renewals.models import OrderOutcome

    later = OrderOutcome.objects.filter(
        order_id=OuterRef("order_id"), cycle=OuterRef("cycle"), business_date__gt=OuterRef("business_date")
    )
    errors = OrderOutcome.objects.filter(
        reason=Reason.INTERNAL_ERROR, order__status=OrderStatus.ACTIVE, cycle=F("order__expires_on")
    ).filter(~Exists(later))
    return Order.objects.filter(pk__in=errors.values("order_id"))


def suspensions_of_the_cycle():
    """The suspension events of an outer query's order, for its current cycle
    (the grace of renewals.rules.termination_day runs from the latest)."""
    from renewals.models import LifecycleEvent, Transition

    return LifecycleEvent.objects.filter(
        order_id=OuterRef("pk"), cycle=OuterRef("expires_on"), transition=Transition.SUSPEND
    )


def terminated_q(day: datetime.date, graces: dict[int, int], *, exact: bool) -> Q:
    """Orders whose termination day (renewals.rules.termination_day,
    the grace starting from the latest suspension of the cycle) is ``day``
    (``exact``) or on or before it; ``graces``: the categories' grace days by
    id. The rule's query form, from its constant (tests/renewals/
    test_rule_queries.py checks that the two agree)."""
    condition = Q(pk__in=[])
    for category_id, grace in graces.items():
        condition |= Q(plan__category_id=category_id) & _grace_starts_q(day - datetime.timedelta(days=grace), exact)
    return condition


def _grace_starts_q(start: datetime.date, exact: bool) -> Q:
    """renewals.rules.grace_starts is ``start`` (or on or before it): the day
    after the paid-thru date, or a later suspension of the cycle."""
    paid_thru = start - datetime.timedelta(days=SUSPENDED_AFTER_DAYS)
    no_later_suspension = ~Exists(suspensions_of_the_cycle().filter(business_date__gt=start))
    if not exact:
        return Q(expires_on__lte=paid_thru) & no_later_suspension
    return no_later_suspension & (
        Q(expires_on=paid_thru)
        | Q(expires_on__lt=paid_thru) & Exists(suspensions_of_the_cycle().filter(business_date=start))
    )
