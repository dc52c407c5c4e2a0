"""Writes to orders: the lifecycle transition, the switches and flags, and an
operator's change of tenure."""

import json
from decimal import Decimal

from django.db import transaction

from audit.models import AuditEvent
from audit.services import audit_record, audited_update
from catalog.models import PlanPrice
from catalog.rules import lead_days_problem
from core.errors import DomainError, IllegalTransition, NotFound
from core.money import check_exact, format_amount
from core.request_context import current_address
from core.sql import db_now, insert_rows
from orders.locks import lock_order
from orders.models import AfterRenewal, Order, PaymentSource
from orders.states import OrderStatus, check_transition
from tenants.scope import Actor, ActorKind

# What the reseller's lock covers (SPEC "Auto-renewal": the order's whole
# renewal intent): the customer can neither switch it nor set or clear
# do-not-renew while it is locked.
LOCKED_FIELDS = ("auto_renew", "do_not_renew")
# Which actor may change which switch or flag of an order. The provider's lock
# and the pending-action flag belong to the platform; the reseller's lock on
# the auto-renew switch belongs to the reseller (and the platform).
_CUSTOMER_FIELDS = frozenset({"auto_renew", "payment_source", "stopped", "do_not_renew"})
_RESELLER_FIELDS = _CUSTOMER_FIELDS | {"auto_renew_locked"}
_PLATFORM_FIELDS = _RESELLER_FIELDS | {"locked", "pending_action"}
EDITABLE_FIELDS = {
    ActorKind.CUSTOMER: _CUSTOMER_FIELDS,
    ActorKind.RESELLER: _RESELLER_FIELDS,
    ActorKind.PLATFORM: _PLATFORM_FIELDS,
    ActorKind.SYSTEM: _PLATFORM_FIELDS,
}

# What the apps above orders do when an order's status, renewal intent or
# renewal terms change, in the change's own transaction: orders import none
# of them, so each registers its listener when it is ready (renewals.apps:
# the order's open renewal is cancelled, opened again or priced again).
# ``listener(order=, changed={field: new value}, actor=, on=)``.
_CHANGE_LISTENERS: list = []


def order_change_listen(listener) -> None:
    """Call ``listener`` after each change these services make to an order."""
    if listener not in _CHANGE_LISTENERS:
        _CHANGE_LISTENERS.append(listener)


def _order_changed(order: Order, fields, *, actor: Actor, on=None) -> None:
    changed = {field: getattr(order, field) for field in fields}
    if changed:
        for listener in _CHANGE_LISTENERS:
            listener(order=order, changed=changed, actor=actor, on=on)


@transaction.atomic
def order_transition(*, actor: Actor, order_id: int, to: str, reason: str = "", business_date=None) -> Order:
    """Move an order through its lifecycle, refusing what the lifecycle forbids.

    The UPDATE is conditional on the status read under the row lock, so two
    callers can never both make the same move.
    """
    order = lock_order(order_id)
    check_transition(order.status, to, label=f"order {order.ref}")
    if order.expires_on is None:
        raise IllegalTransition(f"order {order.ref}: an endless order never runs out, so it is never {to}")
    before = order.status
    updated = Order.objects.filter(pk=order.pk, status=before).update(status=to)
    if updated != 1:  # pragma: no cover - the row lock makes this unreachable
        raise IllegalTransition(f"order {order.ref}: its status changed meanwhile; try again")
    order.status = to
    audit_record(
        actor=actor,
        action="order.status",
        target=order,
        before=before,
        after=to,
        reason=reason,
        business_date=business_date,
    )
    _order_changed(order, ["status"], actor=actor, on=business_date)
    return order


@transaction.atomic
def order_set_flags(*, actor: Actor, order_id: int, reason: str = "", **changes) -> list[str]:
    """Change an order's switches and flags (auto_renew, payment_source, locks...).

    Refuses fields the actor may not change, and a customer's change of what
    the reseller's lock covers (``LOCKED_FIELDS``); a refusal changes nothing.
    Returns the fields that really changed.
    """
    allowed = EDITABLE_FIELDS.get(actor.kind, frozenset())
    refused = sorted(set(changes) - allowed)
    if refused:
        raise DomainError(f"you may not change {', '.join(refused)} of an order", code="forbidden")
    if not Order.objects.visible_to(actor).filter(pk=order_id).exists():
        raise NotFound(f"order {order_id} not found")
    order = lock_order(order_id)
    if order.auto_renew_locked and actor.kind == ActorKind.CUSTOMER:
        moved = [field for field in LOCKED_FIELDS if field in changes and changes[field] != getattr(order, field)]
        if moved:
            what = "the auto-renew switch" if moved == ["auto_renew"] else "its renewal (auto-renew and 'do not renew')"
            raise DomainError(
                f"order {order.ref}: your reseller locked {what}; ask them to change it", code="auto_renew_locked"
            )
    if "payment_source" in changes and changes["payment_source"] not in PaymentSource.values:
        raise DomainError(
            f"payment source must be one of {', '.join(PaymentSource.values)}", code="invalid_payment_source"
        )
    changed = audited_update(actor=actor, instance=order, changes=changes, reason=reason)
    _order_changed(order, changed, actor=actor)
    return changed


def order_status_audit_many(*, actor: Actor, business_date, moves: list[tuple[int, str, str, str]], reason: str):
    """Audit records for status moves made set-based (the nightly lifecycle, a
    renewal during grace): ``moves`` are (order id, ref, before, after)."""
    order_field_audit_many(actor=actor, business_date=business_date, field="status", moves=moves, reason=reason)


def order_field_audit_many(
    *, actor: Actor, business_date, field: str, moves: list[tuple[int, str, object, object]], reason: str
):
    """Audit records for changes of one field made set-based, named as
    audited_update names them ("order.<field>"): ``moves`` are (order id,
    ref, before, after). Rows as tuples (core.sql.insert_rows: COPY on
    PostgreSQL): the ORM's bulk_create cost the nightly lifecycle more than
    the rest of its moves."""
    user_id = actor.user.pk if actor.user and actor.user.pk else None
    now, address, target_type = db_now(), current_address(), Order._meta.label_lower
    insert_rows(
        AuditEvent,
        ("occurred_at", "business_date", "actor_id", "actor_label", "action", "target_type", "target_id",
         "target_ref", "before", "after", "reason", "address"),
        [(now, business_date, user_id, actor.label, f"order.{field}", target_type, order_id, ref, json.dumps(before),
          json.dumps(after), reason, address) for order_id, ref, before, after in moves],
    )  # fmt: skip


def reason_required(reason: str) -> str:
    """An operator's change of an order's dates, status or tenure carries a
    reason (SPEC "Orders"): it is kept in the audit log."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("give a reason: it is kept with the change in the audit log", code="reason_required")
    return reason


@transaction.atomic
def order_tenure_change(*, actor: Actor, order_id: int, months: int, reason: str) -> list[str]:
    """An operator's change of the tenure the order renews at (its next
    auto-renewal buys ``months`` at that price). Refused unless the plan sells
    that tenure, so the order never renews at a price that does not exist."""
    reason = reason_required(reason)
    order = lock_order(order_id)
    if order.status == OrderStatus.TERMINATED:
        raise DomainError(f"order {order.ref} is terminated: it never renews again", code="terminated")
    sold = sorted(PlanPrice.objects.filter(plan_id=order.plan_id).values_list("months", flat=True))
    if months not in sold:
        raise DomainError(
            f"order {order.ref}: its plan has no {months}-month price (it sells {', '.join(map(str, sold))})",
            code="invalid_period",
        )
    changes = {"tenure_months": months}
    if order.individual_price is not None and months != order.tenure_months:
        # SPEC "Per-order settings": the individual price was for the old tenure.
        changes["individual_price"] = None
    changed = audited_update(actor=actor, instance=order, changes=changes, reason=reason)
    _order_changed(order, changed, actor=actor)
    return changed


# SPEC "Per-order settings": an order's renewal terms, set by its reseller or
# the platform, never by the customer.
TERMS_FIELDS = ("lead_days", "individual_price", "after_renewal")
TERMS_ACTORS = frozenset({ActorKind.RESELLER, ActorKind.PLATFORM, ActorKind.SYSTEM})
MAX_PRICE = Decimal("1e17")  # the money columns' 20 digits, 3 of them places


@transaction.atomic
def order_set_terms(*, actor: Actor, order_id: int, reason: str = "", **changes) -> list[str]:
    """Set an order's renewal terms (SPEC "Per-order settings"): its own
    auto-renew point ``lead_days`` (None: its plan's; bound: shorter than its
    tenure at 28 days a month, catalog.rules.lead_days_problem), its
    ``individual_price`` for its tenure (None: the plan's; in its price's
    currency, no finer than the minor unit) and ``after_renewal`` (keep or
    plan). For resellers and the platform only. Bad input changes nothing;
    each change is audited, before and after. Returns the fields that
    really changed."""
    unknown = sorted(set(changes) - set(TERMS_FIELDS))
    if unknown:
        raise DomainError(f"{', '.join(unknown)} is not a renewal term of an order", code="invalid")
    if actor.kind not in TERMS_ACTORS:
        raise DomainError("an order's auto-renew point and individual price are set by your provider", code="forbidden")
    if not Order.objects.visible_to(actor).filter(pk=order_id).exists():
        raise NotFound(f"order {order_id} not found")
    order = lock_order(order_id)
    label = f"order {order.ref}"
    if order.status == OrderStatus.TERMINATED:
        raise DomainError(f"{label} is terminated: it never renews again", code="terminated")
    if order.expires_on is None:
        raise DomainError(f"{label} never expires: there is no renewal to set terms for", code="endless")
    currency = order.plan.currency
    if "lead_days" in changes:
        lead = changes["lead_days"]
        if lead is not None and (type(lead) is not int or lead < 0):
            raise DomainError(f"{label}: lead_days is a whole number of days (0 or more), not {lead!r}", code="invalid")
        problem = lead_days_problem(lead, [order.tenure_months])
        if problem:
            raise DomainError(f"{label}: lead_days {problem}", code="invalid_lead_days")
    if "individual_price" in changes and changes["individual_price"] is not None:
        price = changes["individual_price"]
        try:
            if price < 0:
                raise ValueError(f"an individual price cannot be negative, not {price}")
            if price >= MAX_PRICE:
                raise ValueError(f"{price} is too large")
            changes["individual_price"] = check_exact(price, currency)
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise DomainError(f"{label}: individual_price: {exc}", code="invalid_price") from exc
    if "after_renewal" in changes and changes["after_renewal"] not in AfterRenewal.values:
        raise DomainError(
            f"{label}: after_renewal is one of {', '.join(AfterRenewal.values)}, not {changes['after_renewal']!r}",
            code="invalid",
        )

    def shown(field, value):
        return format_amount(value, currency) if field == "individual_price" and value is not None else value

    changed = audited_update(actor=actor, instance=order, changes=changes, reason=reason, shown=shown)
    _order_changed(order, changed, actor=actor)
    return changed
