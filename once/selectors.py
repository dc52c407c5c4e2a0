"""What a customer sees before paying a renewal: the quote whose pins and
total the pay form posts back, for renewal_pay_once to pay exactly that or
nothing."""

from dataclasses import dataclass
from decimal import Decimal

from balances.models import Account
from balances.selectors import account_of
from core.dates import business_today
from core.errors import DomainError, NotFound
from orders.models import Order
from orders.selectors import orders_of, periods_of
from payments.gateway import stripe_configured
from payments.models import Card
from payments.services import cards_shown, default_card
from renewals.manual import Quote, QuoteLine, renewal_quote
from renewals.rules import default_months, renewal_prices
from tenants.scope import Actor, ActorKind


@dataclass(frozen=True)
class PreviewRow:
    order: Order
    months: int
    periods: list[tuple[int, Decimal]]  # what the order's plan sells, shortest first
    line: QuoteLine | None  # None when the batch could not be quoted


@dataclass(frozen=True)
class RenewalPreview:
    rows: tuple[PreviewRow, ...]
    quote: Quote | None
    refused: str  # why the batch cannot be quoted ("" when it is)
    account: Account
    card: Card | None  # the default card, when card payments are on
    short: bool  # the balance does not cover the quote (Account.available)
    # The order ``refused`` is about, when it is its CSR (renewals.csr.CsrError): shown next to its field.
    refused_order: int | None = None


def renewal_preview(
    *,
    actor: Actor,
    order_ids: list[int],
    months: dict[int, int],
    align_day: int | None = None,
    csrs: dict[int, str] | None = None,
) -> RenewalPreview:
    """The renewal of ``order_ids`` by the acting customer, or by a reseller
    for one of its customers: each for the period in
    ``months``, else the plan's default (renewals.rules.default_months),
    quoted (renewals.manual.renewal_quote) or why not, with the account and
    card that would pay it. An order that is not the customer's refuses the
    whole batch, as if it did not exist (NotFound)."""
    orders = {o.pk: o for o in orders_of(actor=actor, on=business_today()).filter(pk__in=order_ids)}
    missing = [order_id for order_id in order_ids if order_id not in orders]
    if missing:
        raise NotFound(f"order {missing[0]} not found")
    periods = periods_of({o.plan_id for o in orders.values()})
    items = chosen_periods(
        [(i, months.get(i)) for i in order_ids], plan_of={i: o.plan_id for i, o in orders.items()}, periods=periods
    )
    quote, refused, refused_order = None, "", None
    try:
        quote = renewal_quote(actor=actor, items=items, align_day=align_day, csrs=csrs)
    except NotFound:
        raise
    except DomainError as exc:
        refused, refused_order = str(exc), getattr(exc, "order_id", None)
    # The orders' account: the acting customer's, or the one a reseller renews for.
    first = next(iter(orders.values()), None)
    account = account_of(actor=actor, account_id=first.customer_id if first else actor.customer_id)
    lines = {line.order_id: line for line in quote.lines} if quote else {}
    card = _default_card(actor, account) if stripe_configured() else None
    return RenewalPreview(
        rows=tuple(PreviewRow(orders[i], chosen, _periods(orders[i], periods), lines.get(i)) for i, chosen in items),
        quote=quote,
        refused=refused,
        account=account,
        card=card,
        short=quote is not None and quote.total > account.available,
        refused_order=refused_order,
    )


def _periods(order: Order, periods: dict[int, list]) -> list[tuple[int, Decimal]]:
    """The order's periods priced as its quote prices them (an individual
    price for its tenure: renewals.rules.renewal_prices)."""
    return renewal_prices(dict(periods.get(order.plan_id, [])), order.tenure_months, order.individual_price)


def _default_card(actor: Actor, account: Account) -> Card | None:
    """The card that would pay: the acting customer's default (its details
    asked from Stripe when missing), or, for a reseller renewing for a
    customer, that account's default alone (not every card of its subtree)."""
    if actor.kind == ActorKind.CUSTOMER:
        return next((c for c in cards_shown(actor=actor) if c.is_default), None)
    return default_card(account.pk)


def chosen_periods(
    items: list[tuple[int, int | None]], *, plan_of: dict[int, int], periods: dict[int, list]
) -> list[tuple[int, int]]:
    """Each (order id, months): the months chosen, else (None) the default
    period of the order's plan (renewals.rules.default_months), given each
    order's plan (``plan_of``) and what each plan sells (orders.selectors
    periods_of). An order not in ``plan_of`` gets 1 month: quoting it refuses
    it anyway."""
    return [
        (order_id, months)
        if months is not None
        else (order_id, default_months([m for m, _amount in periods.get(plan_of.get(order_id), [])]))
        for order_id, months in items
    ]
