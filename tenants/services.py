"""Writes to the reseller tree and the customers below it."""

from django.db import transaction

from audit.services import audit_record, audited_update
from core.errors import DomainError, NotFound
from tenants.models import Customer, Membership, Reseller
from tenants.rules import (
    invoice_prefix_for,
    own_account_problem,
    retry_days_normal,
    retry_policy_problem,
    tree_paths,
)
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


def own_account_check(*, customer_id: int | None, seller: Reseller, owner: Reseller | None) -> None:
    """Refuse (DomainError, a sentence naming both) to make the customer
    ``customer_id`` (None: one not created yet), sold by ``seller``, the own
    account of ``owner`` where tenants.rules.own_account_problem says it
    cannot be; ``owner`` None (no longer anyone's) is always possible."""
    if owner is None:
        return
    held = Customer.objects.filter(owner_reseller=owner).exclude(pk=customer_id).values_list("ref", flat=True).first()
    problem = own_account_problem(
        owner_ref=owner.ref,
        parent_id=owner.parent_id,
        parent_ref=owner.parent.ref if owner.parent_id else "",
        seller_id=seller.pk,
        seller_ref=seller.ref,
        held_ref=held or "",
    )
    if problem:
        raise DomainError(problem, code="invalid_own_account")


@transaction.atomic
def customer_set_owner_reseller(*, actor: Actor, customer_id: int, owner: Reseller | None, reason: str = "") -> bool:
    """Make a customer account the own account of reseller ``owner`` (SPEC
    "Resellers are customers too": its staff renew its orders under "Our
    orders"), or no reseller's (None). Platform admins only: the account is
    sold by the reseller above the owner, and neither reseller decides for
    the other. Returns whether anything changed; audited."""
    if not actor.sees_everything:
        raise DomainError("only a platform admin may say whose own account a customer account is", code="forbidden")
    customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    if customer.owner_reseller_id == (owner.pk if owner else None):
        return False
    own_account_check(customer_id=customer.pk, seller=customer.reseller, owner=owner)
    before = customer.owner_reseller.ref if customer.owner_reseller_id else None
    Customer.objects.filter(pk=customer.pk).update(owner_reseller=owner)
    audit_record(
        actor=actor,
        action="customer.owner_reseller",
        target=customer,
        before=before,
        after=owner.ref if owner else None,
        reason=reason,
    )
    return True


def reseller_set_retry_policy(
    *,
    actor: Actor,
    reseller_id: int,
    retry_own: bool,
    retry_days: list[int] | None = None,
    last_chance_day: int = 0,
    reason: str = "",
) -> list[str]:
    """Set a reseller's retry policy (docs/dunning.md): ``retry_own`` off, it
    inherits the one above it; on, ``retry_days`` (None: every night of the
    window; else days before expiry) and ``last_chance_day``. A reseller
    sets its own and its sub-resellers'; platform staff anyone's. Refused
    with the rule's sentence (tenants.rules.retry_policy_problem), nothing
    changed; audited field by field. Returns the fields that changed."""
    if actor.kind not in (ActorKind.RESELLER, ActorKind.PLATFORM, ActorKind.SYSTEM):
        raise DomainError("only a reseller or the platform sets a retry policy", code="forbidden")
    if not retry_own:
        retry_days, last_chance_day = None, 0
    problem = retry_policy_problem(retry_days, last_chance_day)
    if problem:
        raise DomainError(problem, code="invalid_retry_policy")
    with transaction.atomic():
        reseller = Reseller.objects.visible_to(actor).select_for_update().filter(pk=reseller_id).first()
        if reseller is None:
            raise NotFound(f"reseller {reseller_id} not found")
        return audited_update(
            actor=actor,
            instance=reseller,
            changes={
                "retry_own": bool(retry_own),
                "retry_days": retry_days_normal(retry_days),
                "last_chance_day": last_chance_day,
            },
            reason=reason,
        )


@transaction.atomic
def customer_set_retry_exempt(*, actor: Actor, customer_id: int, exempt: bool) -> bool:
    """A reseller exempts one of its customers from its retry policy (tried
    every night of the window) or not (docs/dunning.md). Returns whether
    anything changed; audited."""
    if actor.kind not in (ActorKind.RESELLER, ActorKind.PLATFORM, ActorKind.SYSTEM):
        raise DomainError("only the customer's reseller may exempt it from the retry policy", code="forbidden")
    customer = Customer.objects.visible_to(actor).select_for_update().filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    return bool(audited_update(actor=actor, instance=customer, changes={"retry_exempt": bool(exempt)}))
