"""The pure rules of renewal (SPEC "Auto-renewal", "Failure reasons", "Manual
renewal"): plain functions over plain values, no database.

The sweep, its dry-run, the reseller's preview and the panels' "why won't this
renew?" all ask ``eligibility``; they cannot disagree.
"""

import datetime
import functools
from dataclasses import dataclass
from decimal import Decimal

from balances.rules import available_funds
from catalog.rules import DAYS_PER_MONTH_FOR_LEAD
from core.choices import LabelledEnum
from core.money import ZERO, quantize
from orders.periods import add_months, days_in_month
from orders.states import OrderStatus

SHORT_LEAD_DAYS = 7
LONG_LEAD_DAYS = 30
SHORT_TENURE_MONTHS = 3  # up to and including this tenure, the short window
# An unrenewed order is suspended this many days after its paid-thru date.
SUSPENDED_AFTER_DAYS = 1


class Reason(LabelledEnum):
    """Why a due order is not renewed, in SPEC's order of precedence; the
    label is the sentence a customer reads (the models' choices)."""

    DO_NOT_RENEW = "do_not_renew", "You chose not to renew this order."
    ORDER_AUTO_RENEW_OFF = "order_auto_renew_off", "Auto-renew is switched off for this order."
    ENDLESS_PLAN = "endless_plan", "This plan never expires, so there is nothing to renew."
    CATEGORY_NOT_SUPPORTED = (
        "category_not_supported",
        "This kind of service cannot renew automatically (an SSL certificate needs a new CSR).",
    )
    NOT_ALLOWED_BY_PLAN = "not_allowed_by_plan", "The plan does not allow automatic renewal."
    PRICE_MISSING = (
        "price_missing",
        "The plan no longer sells this order's period, so it cannot renew automatically.",
    )
    NOT_ALLOWED_BY_RESELLER = "not_allowed_by_reseller", "Your provider does not allow automatic renewal."
    ACCOUNT_AUTO_RENEW_OFF = "account_auto_renew_off", "Auto-renew is switched off for your whole account."
    ORDER_SUSPENDED = "order_suspended", "The order is suspended (or terminated)."
    ORDER_LOCKED = "order_locked", "The order is locked by the provider."
    ORDER_STOPPED = "order_stopped", "The order is stopped."
    PENDING_ACTION = "pending_action", "An action on the order is pending (for example an unpaid checkout)."
    INSUFFICIENT_FUNDS = (
        "insufficient_funds",
        "Your balance and credit limit do not cover the whole renewal, and there is no usable card.",
    )
    NO_USABLE_CARD = "no_usable_card", "The order is paid by card, but the account has no usable card."
    CARD_DECLINED = "card_declined", "The card charge failed or needs your authentication."
    PAYMENT_UNKNOWN = "payment_unknown", "The card charge's outcome is not known yet; it will be settled."
    INTERNAL_ERROR = (
        "internal_error",
        "The portal could not process this renewal tonight; its operators are told and it is retried the next night.",
    )


WHAT_TO_DO = {
    Reason.DO_NOT_RENEW: "Clear 'do not renew' on the order, or renew it by hand.",
    Reason.ORDER_AUTO_RENEW_OFF: "Switch auto-renew on for the order, or renew it by hand.",
    Reason.ENDLESS_PLAN: "Nothing to do.",
    Reason.CATEGORY_NOT_SUPPORTED: "Renew it by hand before it expires.",
    Reason.NOT_ALLOWED_BY_PLAN: "Renew it by hand before it expires.",
    Reason.PRICE_MISSING: "Renew it by hand with another period before it expires.",
    Reason.NOT_ALLOWED_BY_RESELLER: "Renew it by hand, or ask your provider to allow auto-renew.",
    Reason.ACCOUNT_AUTO_RENEW_OFF: "Switch auto-renew on in your account settings, or renew by hand.",
    Reason.ORDER_SUSPENDED: "Renew it by hand to restore it (a terminated order cannot come back).",
    Reason.ORDER_LOCKED: "Contact support to have the lock lifted.",
    Reason.ORDER_STOPPED: "Start the order again, or renew it by hand.",
    Reason.PENDING_ACTION: "Finish the pending action (for example pay the open checkout).",
    Reason.INSUFFICIENT_FUNDS: "Top up your balance or save a card before the expiry date.",
    Reason.NO_USABLE_CARD: "Save a card, or switch the order to pay from your balance.",
    Reason.CARD_DECLINED: "Renew in the browser to confirm the payment, or use another card.",
    Reason.PAYMENT_UNKNOWN: "Nothing yet: the charge will be settled; you will not be charged twice.",
    Reason.INTERNAL_ERROR: "Nothing: the order is kept running meanwhile, and it is retried the next night.",
}

# The reasons that make an order "skipped" (not part of its account's batch).
SKIP_REASONS = frozenset(list(Reason)[: list(Reason).index(Reason.PENDING_ACTION) + 1])


def lead_days(tenure_months: int, plan_override: int | None, order_override: int | None = None) -> int:
    """Days before expiry the attempt window opens: 7 for tenures up to and
    including 3 months, 30 above; a plan may override it, and an order's own
    auto-renew point overrides its plan's (SPEC "Per-order settings"). Its
    query form: renewals.facts.Catalog.by_lead_days.

    The order's own point applies while it fits its tenure (``own_lead_fits``):
    after a renewal for a shorter period it would open the next window before
    the renewal's own month began, and the sweep would renew again at once."""
    if order_override is not None and own_lead_fits(order_override, tenure_months):
        return order_override
    if plan_override is not None:
        return plan_override
    return SHORT_LEAD_DAYS if tenure_months <= SHORT_TENURE_MONTHS else LONG_LEAD_DAYS


def own_lead_fits(order_lead_days: int, tenure_months: int) -> bool:
    """Whether an order's own lead days are shorter than its tenure counted at
    28 days a month (the bound of catalog.rules.lead_days_problem): in query
    form, ``tenure_months > order_lead_days // DAYS_PER_MONTH_FOR_LEAD``."""
    return order_lead_days < tenure_months * DAYS_PER_MONTH_FOR_LEAD


def renewal_price(
    plan_prices: dict[int, Decimal], months: int, tenure_months: int, individual_price: Decimal | None
) -> Decimal | None:
    """The price of renewing for ``months`` (SPEC "Per-order settings"): an
    order's individual price is the price of its tenure, so it applies when
    the renewal is for the tenure; another period is priced from the plan.
    None when neither prices it (the plan does not sell that period). The one
    pricing rule of every path: the sweep, its preview and notices
    (renewals.facts.Catalog.next_period) and the manual quote."""
    if individual_price is not None and months == tenure_months:
        return individual_price
    return plan_prices.get(months)


def renewal_prices(
    plan_prices: dict[int, Decimal], tenure_months: int, individual_price: Decimal | None
) -> list[tuple[int, Decimal]]:
    """[(months, price)] an order can be renewed for, shortest first, each
    priced by ``renewal_price``: the plan's periods, its tenure at its
    individual price (even when the plan no longer sells the tenure)."""
    months = set(plan_prices) | ({tenure_months} if individual_price is not None else set())
    return [(m, renewal_price(plan_prices, m, tenure_months, individual_price)) for m in sorted(months)]


def clears_individual_price(
    *,
    individual_price: Decimal | None,
    back_to_plan: bool,
    tenure_months: int,
    months: int,
    base_amount: Decimal,
    for_period: bool,
) -> bool:
    """Whether a paid renewal ends the order's individual price (SPEC
    "Per-order settings"): a renewal at it when the order's ``after_renewal``
    is ``plan`` (``back_to_plan``: the renewal after it is at the plan's
    price), or a renewal for another period than the tenure the price was for
    (``for_period``: the renewal's months become the tenure, a manual one).
    A renewal is at the individual price when it is for the tenure and its
    base price is that price (one quoted at the plan's price before a reseller
    set it, and paid by card after, is not)."""
    if individual_price is None:
        return False
    if for_period and months != tenure_months:
        return True
    return back_to_plan and months == tenure_months and base_amount == individual_price


def grace_starts(expires_on: datetime.date, suspended_on: datetime.date | None = None) -> datetime.date:
    """The day an unrenewed order's grace starts: its suspension, the day
    after the paid-thru date (SUSPENDED_AFTER_DAYS), or ``suspended_on`` when
    it was suspended later (held back by an internal error meanwhile)."""
    first = expires_on + datetime.timedelta(days=SUSPENDED_AFTER_DAYS)
    return first if suspended_on is None else max(first, suspended_on)


def termination_day(
    expires_on: datetime.date, grace_days: int, suspended_on: datetime.date | None = None
) -> datetime.date:
    """SPEC: an unrenewed order is terminated the day after its category's
    grace ends: ``grace_days`` after the grace starts (``grace_starts``), so
    an order suspended later keeps its whole grace from ``suspended_on``.
    Its query form: renewals.facts.terminated_q."""
    return grace_starts(expires_on, suspended_on) + datetime.timedelta(days=grace_days)


def is_due(expires_on: datetime.date | None, lead: int, on: datetime.date) -> bool:
    """Due on ``on`` when expires_on - lead <= on <= expires_on (retried each
    night up to and including the expiry date)."""
    return expires_on is not None and expires_on - datetime.timedelta(days=lead) <= on <= expires_on


@dataclass(frozen=True)
class OrderFacts:
    """Everything eligibility looks at, as plain values."""

    expires_on: datetime.date | None
    tenure_months: int
    status: str
    auto_renew: bool
    do_not_renew: bool
    locked: bool
    stopped: bool
    pending_action: bool
    plan_endless: bool
    plan_auto_renew_allowed: bool
    plan_lead_days: int | None
    category_auto_renew_supported: bool
    reseller_allows: bool  # the reseller chain and the per-customer permission
    account_auto_renew: bool
    priced: bool = True  # the plan still sells this tenure, in the account's currency
    # The reseller's lock on the order's switch: the account's master switch
    # does not apply to it (SPEC "Auto-renewal").
    auto_renew_locked: bool = False
    # The order's own auto-renew point: it overrides the plan's lead days.
    order_lead_days: int | None = None


def skip_reason(facts: OrderFacts) -> Reason | None:
    """The first reason (SPEC precedence, top to bottom) that keeps the order
    out of the automatic renewal, or None when it will be attempted."""
    if facts.do_not_renew:
        return Reason.DO_NOT_RENEW
    if not facts.auto_renew:
        return Reason.ORDER_AUTO_RENEW_OFF
    if facts.plan_endless or facts.expires_on is None:
        return Reason.ENDLESS_PLAN
    if not facts.category_auto_renew_supported:
        return Reason.CATEGORY_NOT_SUPPORTED
    if not facts.plan_auto_renew_allowed:
        return Reason.NOT_ALLOWED_BY_PLAN
    if not facts.priced:
        return Reason.PRICE_MISSING
    if not facts.reseller_allows:
        return Reason.NOT_ALLOWED_BY_RESELLER
    if not facts.account_auto_renew and not facts.auto_renew_locked:
        return Reason.ACCOUNT_AUTO_RENEW_OFF
    if facts.status != OrderStatus.ACTIVE:
        return Reason.ORDER_SUSPENDED
    if facts.locked:
        return Reason.ORDER_LOCKED
    if facts.stopped:
        return Reason.ORDER_STOPPED
    if facts.pending_action:
        return Reason.PENDING_ACTION
    return None


@dataclass(frozen=True)
class Eligibility:
    due: bool
    reason: Reason | None  # None: it will be attempted (when due)
    window_opens: datetime.date | None
    lead_days: int | None = None  # the lead days that open it (renewals.rules.lead_days)

    @property
    def will_attempt(self) -> bool:
        return self.due and self.reason is None


def eligibility(facts: OrderFacts, on: datetime.date) -> Eligibility:
    """Whether the order is due on ``on`` and, if it will not be attempted, why."""
    lead = lead_days(facts.tenure_months, facts.plan_lead_days, facts.order_lead_days)
    opens = facts.expires_on - datetime.timedelta(days=lead) if facts.expires_on else None
    return Eligibility(
        due=is_due(facts.expires_on, lead, on), reason=skip_reason(facts), window_opens=opens, lead_days=lead
    )


def batch_failure(
    *,
    balance_part: Decimal,
    card_part: Decimal,
    balance: Decimal,
    credit_limit: Decimal,
    card_usable: bool,
    held: Decimal = ZERO,
) -> Reason | None:
    """Why an account's batch cannot be paid without a card charge, or None.

    Without a usable card the credit limit may cover the balance part; a
    card-sourced order then fails the batch. With a usable card the shortfall
    goes to the card (the card path decides the rest). An account that owes
    (a refund or dispute took it below its credit limit: its available
    funds are negative) renews nothing, card or not, until it is back
    (SPEC "Money").
    """
    available = available_funds(balance, held, credit_limit)
    if available < 0:
        return Reason.INSUFFICIENT_FUNDS
    if card_usable:
        return None
    if balance_part + card_part > available:
        return Reason.INSUFFICIENT_FUNDS
    if card_part > 0:
        return Reason.NO_USABLE_CARD
    return None


def card_charge(*, balance_part: Decimal, card_part: Decimal, balance: Decimal, minimum: Decimal = ZERO) -> Decimal:
    """What a batch charges to a usable card: the card-sourced part plus the
    balance part's shortfall, the balance used down to zero (not the credit
    limit); raised to the processor's ``minimum`` for the currency when it is
    below it (SPEC "Money": the extra stays on the balance, as part of the
    same card top-up). Zero when the balance covers the batch."""
    shortfall = max(ZERO, balance_part - max(balance, ZERO))
    return raised_to_minimum(card_part + shortfall, minimum)


def raised_to_minimum(amount: Decimal, minimum: Decimal) -> Decimal:
    """A card charge of ``amount``, or the processor's ``minimum`` when it is
    below it; nothing is charged for nothing."""
    return max(amount, minimum) if amount > 0 else amount


def aligned_end(base_end: datetime.date, align_day: int) -> datetime.date:
    """The first date on or after ``base_end`` that falls on ``align_day`` (or
    on the last day of a month too short for it)."""
    candidate = base_end.replace(day=min(align_day, days_in_month(base_end.year, base_end.month)))
    if candidate < base_end:
        candidate = add_months(candidate, 1, align_day)
    return candidate


def prorate(monthly: Decimal, start: datetime.date, end: datetime.date) -> Decimal:
    """The price of the days after ``start`` up to ``end`` at ``monthly`` a month:
    each day costs monthly / the days of its calendar month (unrounded)."""
    total = Decimal("0")
    day = start + datetime.timedelta(days=1)
    while day <= end:
        month_days = days_in_month(day.year, day.month)
        last = min(end, datetime.date(day.year, day.month, month_days))
        count = (last - day).days + 1
        total += monthly * count / month_days
        day = last + datetime.timedelta(days=1)
    return total


@dataclass(frozen=True)
class Period:
    start: datetime.date  # the paid-thru date renewed (the cycle)
    end: datetime.date  # the new paid-thru date
    months: int
    base_amount: Decimal
    extra_days: int
    extra_amount: Decimal
    anchor_day: int
    currency: str
    # The line's price, rounded half up once to the currency's minor unit
    # (SPEC "Money"; set from the parts): cents for USD, yen, fils for KWD.
    amount: Decimal = ZERO

    def __post_init__(self):
        object.__setattr__(self, "amount", quantize(self.base_amount + self.extra_amount, self.currency))


def default_months(offered: list[int]) -> int:
    """The period a renewal form proposes (SPEC: 1 month by default), or the
    shortest the plan sells when it sells no month."""
    return 1 if 1 in offered or not offered else min(offered)


@functools.lru_cache(maxsize=65536)
def renewal_period(
    *,
    expires_on: datetime.date,
    anchor_day: int | None,
    months: int,
    price: Decimal,
    currency: str,
    align_day: int | None = None,
) -> Period:
    """The period a renewal buys: whole months from the paid-thru date keeping
    the anchor day, optionally extended to a standard renewal day with the
    extra days priced pro rata (monthly = price / months), the line rounded
    half up to ``currency``'s minor unit.

    Pure, and its result immutable: cached, since a night's orders share few
    distinct (date, anchor, months, price, currency) combinations."""
    anchor = anchor_day or expires_on.day
    base_end = add_months(expires_on, months, anchor)
    if align_day is None:
        return Period(expires_on, base_end, months, price, 0, ZERO, anchor, currency)
    end = aligned_end(base_end, align_day)
    extra = prorate(price / months, base_end, end)
    return Period(expires_on, end, months, price, (end - base_end).days, extra, align_day, currency)


@dataclass(frozen=True)
class RetryPolicy:
    """On which nights of its attempt window a due order is tried (SPEC
    "Beyond the peers", dunning): ``days`` None, every night (the default);
    else only on those days before expiry, the window's first night and the
    ``last_chance_day``. Resolved per customer by renewals.facts.Catalog:
    an exempt customer's is every night, else the nearest reseller's up the
    chain that sets its own, else the platform's."""

    days: frozenset[int] | None = None
    last_chance_day: int = 0

    @property
    def every_night(self) -> bool:
        return self.days is None


EVERY_NIGHT = RetryPolicy()


def is_attempt_night(policy: RetryPolicy, *, expires_on: datetime.date, window_opens: datetime.date, on) -> bool:
    """Whether ``on`` is a night the order is tried on: every night without
    a policy, else the window's first night, a policy day or the last-chance
    day (in days before ``expires_on``). Past the expiry (an order held
    back by an internal error) every night, as before."""
    if policy.days is None or on == window_opens or on > expires_on:
        return True
    before = (expires_on - on).days
    return before in policy.days or before == policy.last_chance_day


def next_attempt_night(
    policy: RetryPolicy, *, expires_on: datetime.date, window_opens: datetime.date, on: datetime.date
) -> datetime.date | None:
    """The first night on or after ``on`` the order is tried on
    (``is_attempt_night``), within its window; None when none is left."""
    if on > expires_on:
        return on
    if on <= window_opens:
        return window_opens
    if policy.days is None:
        return on
    days_left = (expires_on - on).days
    later = [d for d in (*policy.days, policy.last_chance_day) if d <= days_left]
    return expires_on - datetime.timedelta(days=max(later)) if later else None


def is_last_chance(policy: RetryPolicy, *, expires_on: datetime.date, on: datetime.date) -> bool:
    """Whether a failure on ``on`` is the order's last chance (the
    ``renewal_last_chance`` notice): its policy's last-chance day before
    expiry, the expiry day itself without a policy of days."""
    return (expires_on - on).days == policy.last_chance_day


def next_attempt_sentence(next_attempt: datetime.date | None) -> str:
    """What the dry-run, the preview and "why won't this renew" say of an
    order waiting for its retry policy's next night (docs/dunning.md)."""
    if next_attempt is None:
        return "no attempt left before it expires (retry policy)"
    return f"next attempt on {next_attempt.isoformat()} (retry policy)"


# Stripe's decline codes for a card that will never pay again (SPEC "Beyond
# the peers": stop retrying it for the cycle, tell the customer to update it).
HARD_DECLINE_CODES = frozenset({"expired_card", "lost_card", "stolen_card"})
# A decline that is hard once the same card said it twice in a cycle.
REPEATED_DECLINE_CODE = "do_not_honor"


def is_hard_decline(code: str, earlier_codes_of_the_cycle) -> bool:
    """Whether a failed charge's decline ``code`` stops the card's retries
    for the cycle: a lost, stolen or expired card; or ``do_not_honor`` when
    an earlier failed charge of the same card for the same cycle
    (``earlier_codes_of_the_cycle``) said so too."""
    if code in HARD_DECLINE_CODES:
        return True
    return code == REPEATED_DECLINE_CODE and REPEATED_DECLINE_CODE in set(earlier_codes_of_the_cycle)


def retry_policy_words(policy: RetryPolicy) -> str:
    """A retry policy as the panels say it."""
    if policy.days is None:
        nights = "every night of the attempt window"
    else:
        days = sorted(policy.days, reverse=True)
        listed = ", ".join(map(str, days[:-1])) + (" and " if len(days) > 1 else "") + str(days[-1])
        nights = f"the window's first night, then {listed} day{'s' if days != [1] else ''} before expiry"
    return f"{nights}; last chance {policy.last_chance_day} day{'s' if policy.last_chance_day != 1 else ''} before"
