"""Reads of the reseller tree and its customers for the panels, scoped to the
acting user."""

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from core.errors import NotFound
from tenants.models import Customer, Reseller
from tenants.scope import Actor, ActorKind

PLATFORM_NAME = "Renewal portal"


def brand_of(actor: Actor) -> str:
    """The name the panel shows (white label): the customer's reseller, or the reseller itself."""
    if actor.kind == ActorKind.CUSTOMER:
        name = Customer.objects.filter(pk=actor.customer_id).values_list("reseller__name", flat=True).first()
    elif actor.kind == ActorKind.RESELLER:
        name = Reseller.objects.filter(pk=actor.reseller_id).values_list("name", flat=True).first()
    else:
        name = None
    return name or PLATFORM_NAME


def customers_of(*, actor: Actor, query: str = "", failing_only: bool = False) -> QuerySet:
    """The customers of the acting reseller's subtree with their balance,
    order counts and failed renewals, in one query whatever the number of rows."""
    from orders.models import Order
    from renewals.models import OrderOutcome

    orders = Order.objects.filter(customer_id=OuterRef("pk"))
    # Orders still active whose auto-renewal failed for their current cycle.
    failing = OrderOutcome.objects.filter(order_id=OuterRef("pk"), cycle=OuterRef("expires_on"), outcome="failed")
    customers = (
        Customer.objects.visible_to(actor)
        .select_related("account", "reseller")
        .annotate(
            orders_active=_count(orders.filter(status="active")),
            orders_suspended=_count(orders.filter(status="suspended")),
            failed_renewals=_count(orders.filter(Exists(failing), status="active")),
        )
        .order_by("name", "pk")
    )
    if query:
        customers = customers.filter(Q(name__icontains=query) | Q(ref__icontains=query) | Q(email__icontains=query))
    if failing_only:
        customers = customers.filter(failed_renewals__gt=0)
    return customers


def _count(rows: QuerySet):
    """How many of ``rows`` (correlated to the outer customer), as a subquery."""
    return Coalesce(Subquery(rows.order_by().values("customer_id").annotate(n=Count("pk")).values("n")[:1]), 0)


def customer_detail(*, actor: Actor, customer_id: int) -> Customer:
    customer = Customer.objects.visible_to(actor).select_related("account", "reseller").filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    return customer


def sub_resellers(*, actor: Actor) -> QuerySet:
    """The resellers below the acting one (its whole subtree, itself excluded)."""
    if actor.kind != ActorKind.RESELLER:
        return Reseller.objects.none()
    return (
        Reseller.objects.filter(path__startswith=actor.reseller_path)
        .exclude(pk=actor.reseller_id)
        .select_related("parent")
        .annotate(customer_count=Count("customers"))
        .order_by("path")
    )
