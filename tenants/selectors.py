"""Reads of the reseller tree and its customers for the panels, scoped to the
acting user. (The customer list with its orders and failed renewals joins
apps above tenants: renewals.selectors.customers_of.)"""

from django.db.models import Count, QuerySet

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


def customer_detail(*, actor: Actor, customer_id: int) -> Customer:
    customer = (
        Customer.objects.visible_to(actor)
        .select_related("account", "reseller", "owner_reseller")
        .filter(pk=customer_id)
        .first()
    )
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


def own_account_actor(*, actor: Actor) -> Actor:
    """The acting reseller's staff as the customer of their reseller's own
    account (SPEC "Resellers are customers too"), for the "Our orders" pages
    alone: there they see and renew that account's orders like its customer,
    and nothing else. The account is held with the reseller above, outside the
    acting reseller's subtree, so it is found by its owner, the actor's own
    reseller, not through visible_to. NotFound when it holds none."""
    if actor.kind != ActorKind.RESELLER or actor.reseller_id is None:
        raise NotFound("only a reseller's staff have their reseller's own orders")
    own = Customer.objects.filter(owner_reseller_id=actor.reseller_id).values_list("pk", flat=True).first()
    if own is None:
        raise NotFound("your reseller holds no account of its own")
    # The same login and label (the audit log names the staff member), the own account's scope.
    return Actor(kind=ActorKind.CUSTOMER, label=actor.label, user=actor.user, customer_id=own)
