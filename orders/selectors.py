"""Reads of orders for the panels and the API, scoped to the acting user,
and the admin's platform-wide ones."""

import datetime
from dataclasses import dataclass

from django.db.models import Count, QuerySet

from catalog.models import Category, PlanPrice
from core.errors import NotFound
from orders.models import ENDED_LAST, Order
from orders.states import OrderStatus
from tenants.scope import Actor

# The orders list's sort keys (a "-" prefix reverses), each with a tie-breaker.
SORTS = {
    "paid_thru": ("expires_on", "pk"),
    "product": ("plan__name", "pk"),
    "category": ("plan__category__name", "pk"),
    "status": ("status", "expires_on", "pk"),
    "ref": ("ref", "pk"),
}


# Every sort a list accepts: each key, and reversed with a "-".
SORT_KEYS = [key for name in SORTS for key in (name, f"-{name}")]
# "Expiring within N days" takes at most ten years (the panels' form and the API's filter).
EXPIRING_WITHIN_MAX = 3650


@dataclass(frozen=True)
class OrderFilters:
    status: str = ""
    category: str = ""  # a category ref
    expiring_within: int | None = None  # days from today
    sort: str = "paid_thru"
    customer_id: int | None = None  # one customer of a reseller's subtree


def orders_of(*, actor: Actor, filters: OrderFilters = OrderFilters(), on: datetime.date) -> QuerySet:
    """The acting user's orders, filtered and sorted; one query per page."""
    orders = Order.objects.visible_to(actor).select_related("plan__category", "customer")
    if filters.customer_id is not None:
        orders = orders.filter(customer_id=filters.customer_id)
    if filters.status:
        orders = orders.filter(status=filters.status)
    if filters.category:
        orders = orders.filter(plan__category__ref=filters.category)
    if filters.expiring_within is not None:
        orders = orders.filter(
            expires_on__gte=on, expires_on__lte=on + datetime.timedelta(days=filters.expiring_within)
        )
    key = filters.sort.lstrip("-")
    fields = SORTS.get(key, SORTS["paid_thru"])
    if filters.sort.startswith("-"):
        fields = tuple(f"-{f}" for f in fields)
    # Terminated orders are history: after the live ones, whatever the sort (order_listing_idx).
    return orders.order_by(ENDED_LAST, *fields)


def order_detail(*, actor: Actor, order_id: int) -> Order:
    order = Order.objects.visible_to(actor).select_related("plan__category", "customer__reseller").filter(pk=order_id)
    found = order.first()
    if found is None:
        raise NotFound(f"order {order_id} not found")
    return found


def categories() -> list[Category]:
    """The catalog's categories (shared by every tenant), for filters."""
    return list(Category.objects.order_by("name"))


def periods_of(plan_ids) -> dict[int, list[tuple[int, object]]]:
    """{plan id: [(months, price), ...]} the periods each plan sells, shortest first."""
    periods: dict[int, list] = {}
    for plan_id, months, amount in (
        PlanPrice.objects.filter(plan_id__in=set(plan_ids))
        .order_by("months")
        .values_list("plan_id", "months", "amount")
    ):
        periods.setdefault(plan_id, []).append((months, amount))
    return periods


# The orders that renew at their plan's price: terminated ones never do again.
LIVE_STATUSES = (OrderStatus.ACTIVE, OrderStatus.SUSPENDED)


def orders_renewing_at(*, plan_id: int) -> dict[int, int]:
    """{months: how many active or suspended orders of the plan renew at that
    tenure}: the prices that cannot be removed (catalog.rules.price_in_use_problem)."""
    rows = (
        Order.objects.filter(plan_id=plan_id, status__in=LIVE_STATUSES)
        .values("tenure_months")
        .annotate(n=Count("pk"))
        .values_list("tenure_months", "n")
    )
    return dict(rows)
