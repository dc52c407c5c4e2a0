"""Writes to the reseller tree and the customers below it."""

from django.db import transaction

from audit.services import audit_record
from core.errors import DomainError, NotFound
from tenants.models import Customer, Membership, Reseller
from tenants.rules import invoice_prefix_for, tree_paths
from tenants.scope import Actor, ActorKind


def reseller_paths_rebuild() -> int:
    """Recompute every reseller's materialised path; returns how many changed.

    The tree is small (resellers, not customers), so one pass over all rows is
    cheap and always right, also after a parent changes.
    """
    rows = list(Reseller.objects.only("pk", "parent_id", "path"))
    try:
        paths = tree_paths({r.pk: r.parent_id for r in rows})
    except ValueError as exc:
        raise DomainError(f"the reseller tree is broken: {exc}") from exc
    changed = [r for r in rows if r.path != paths[r.pk]]
    for row in changed:
        row.path = paths[row.pk]
    Reseller.objects.bulk_update(changed, ["path"])
    return len(changed)


@transaction.atomic
def reseller_create(
    *,
    actor: Actor,
    ref: str,
    name: str,
    email: str = "",
    parent: Reseller | None = None,
    allow_auto_renew: bool = True,
    invoice_prefix: str = "",
) -> Reseller:
    reseller = Reseller.objects.create(
        ref=ref,
        name=name,
        email=email,
        parent=parent,
        allow_auto_renew=allow_auto_renew,
        invoice_prefix=invoice_prefix
        or invoice_prefix_for(ref, Reseller.objects.values_list("invoice_prefix", flat=True)),
    )
    reseller.path = f"{parent.path if parent else '/'}{reseller.pk}/"
    reseller.save(update_fields=["path"])
    audit_record(actor=actor, action="reseller.create", target=reseller, after={"name": name})
    return reseller


@transaction.atomic
def customer_create(
    *, actor: Actor, ref: str, name: str, reseller: Reseller, email: str = "", allow_auto_renew: bool = True
) -> Customer:
    """The customer alone: its account is balances' to open, so a new customer
    comes in through balances.services.customer_open (both together)."""
    customer = Customer.objects.create(
        ref=ref, name=name, email=email, reseller=reseller, allow_auto_renew=allow_auto_renew
    )
    audit_record(actor=actor, action="customer.create", target=customer, after={"reseller": reseller.ref})
    return customer


def membership_link(*, user, customer: Customer | None = None, reseller: Reseller | None = None) -> Membership:
    """Give a login its tenant (exactly one of customer or reseller)."""
    if (customer is None) == (reseller is None):
        raise DomainError("a login belongs to exactly one customer or one reseller")
    membership, _ = Membership.objects.update_or_create(
        user=user, defaults={"customer": customer, "reseller": reseller}
    )
    return membership


@transaction.atomic
def customer_set_auto_renew_allowed(*, actor: Actor, customer_id: int, allowed: bool) -> bool:
    """A reseller allows or forbids auto-renew for one of its customers (SPEC:
    the per-customer permission). Returns whether anything changed."""
    if actor.kind not in (ActorKind.RESELLER, ActorKind.PLATFORM, ActorKind.SYSTEM):
        raise DomainError("only the customer's reseller may allow or forbid auto-renew", code="forbidden")
    customer = Customer.objects.visible_to(actor).select_for_update().filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    if customer.allow_auto_renew == allowed:
        return False
    audit_record(
        actor=actor,
        action="customer.allow_auto_renew",
        target=customer,
        before=customer.allow_auto_renew,
        after=allowed,
    )
    Customer.objects.filter(pk=customer.pk).update(allow_auto_renew=allowed)
    return True
