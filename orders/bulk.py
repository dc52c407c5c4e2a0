"""Bulk changes of orders (SPEC "Bulk changes", 002 "move all resources to the
Manual Renewals tab"): many orders moved to manual or to auto renewal in one
step, set-based: one locking read, one UPDATE and the audit rows in one
INSERT (COPY on PostgreSQL), in one transaction, whatever the number of
orders.

Each order is refused as ``order_set_flags`` refuses it (``bulk_refusal``
says why, and a test holds the two to the same answers): a refused order is
skipped and named, the others move."""

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from core.errors import DomainError, NotFound
from core.sql import ids_in
from orders.models import Order
from orders.services import EDITABLE_FIELDS, order_field_audit_many
from tenants.scope import Actor, ActorKind

# Why an order was left as it was, in the words the panel shows.
LOCKED_BY_RESELLER = "your provider locked its renewal; ask them to change it"


@dataclass(frozen=True)
class BulkResult:
    """What a bulk move did: how many orders moved, how many were already
    where they were sent, and each one skipped, as (order ref, why)."""

    changed: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


def bulk_refusal(*, actor_kind: str, auto_renew_locked: bool) -> str | None:
    """Why ``order_set_flags`` would refuse this actor's change of the order's
    auto-renew switch (the reseller's lock binds a customer), or None."""
    if auto_renew_locked and actor_kind == ActorKind.CUSTOMER:
        return LOCKED_BY_RESELLER
    return None


def orders_bulk_auto_renew(*, actor: Actor, order_ids, on: bool, reason: str = "") -> BulkResult:
    """Switch auto-renew ``on`` (auto renewal) or off (manual renewal) for the
    orders ``order_ids`` of the actor's: the ticked ones of a page, or every
    order of a renewal center tab and filter. An id the actor does not see
    refuses the whole move (NotFound, nothing changed); an order whose switch
    the actor may not change is skipped and named. Each change is audited
    ("order.auto_renew", before and after), as ``order_set_flags`` audits one."""
    if "auto_renew" not in EDITABLE_FIELDS.get(actor.kind, frozenset()):
        raise DomainError("you may not change auto_renew of an order", code="forbidden")
    ids = sorted(set(order_ids))
    if not ids:
        return BulkResult()
    with transaction.atomic():
        # Row locks in primary-key order (orders.locks), of the orders only:
        # a reseller's scope joins its customers and resellers, not locked.
        rows = list(
            Order.objects.visible_to(actor)
            .filter(ids_in("id", ids))
            .select_for_update(of=("self",))
            .order_by("pk")
            .values_list("pk", "ref", "auto_renew", "auto_renew_locked")
        )
        if len(rows) != len(ids):
            found = {row[0] for row in rows}
            raise NotFound(f"order {next(i for i in ids if i not in found)} not found")
        moves, skipped, unchanged = [], [], 0
        for pk, ref, before, locked in rows:
            why = bulk_refusal(actor_kind=actor.kind, auto_renew_locked=locked)
            if why is not None and before != on:
                skipped.append((ref, why))
            elif before == on:
                unchanged += 1
            else:
                moves.append((pk, ref, before, on))
        if moves:
            Order.objects.filter(ids_in("id", [pk for pk, *_ in moves])).update(
                auto_renew=on, updated_at=timezone.now()
            )
            order_field_audit_many(actor=actor, business_date=None, field="auto_renew", moves=moves, reason=reason)
    return BulkResult(changed=len(moves), unchanged=unchanged, skipped=skipped)
