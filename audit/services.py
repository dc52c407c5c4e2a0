"""Writing the audit log. Services call these inside their own transaction, so
a change and its audit record commit or roll back together."""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from audit.models import AuditEvent


@dataclass(frozen=True)
class Change:
    action: str
    target: Any
    before: Any = None
    after: Any = None
    reason: str = ""


def _plain(value: Any) -> Any:
    """JSON-safe form of a value for before/after: amounts and dates as text."""
    if isinstance(value, Decimal):
        # Two places as a rule; never fewer than the amount has (a KWD amount
        # keeps its third). Callers that know the currency pass its text.
        return f"{value:.2f}" if value == round(value, 2) else f"{value.normalize():f}"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _event(change: Change, actor, business_date) -> AuditEvent:
    target = change.target
    return AuditEvent(
        business_date=business_date,
        actor=actor.user if actor.user and actor.user.pk else None,
        actor_label=actor.label,
        action=change.action,
        target_type=target._meta.label_lower,
        target_id=target.pk if isinstance(target.pk, int) else None,
        target_ref=str(getattr(target, "ref", "") or target),
        before=_plain(change.before),
        after=_plain(change.after),
        reason=change.reason,
    )


def audit_record(
    *, actor, action: str, target, before=None, after=None, reason: str = "", business_date=None
) -> AuditEvent:
    """Record one change made by ``actor`` (a tenants.scope.Actor)."""
    event = _event(Change(action, target, before, after, reason), actor, business_date)
    event.save()
    return event


def audit_record_many(*, actor, changes: list[Change], business_date=None) -> int:
    """Record many changes in one INSERT (imports, set-based runs)."""
    AuditEvent.objects.bulk_create([_event(change, actor, business_date) for change in changes], batch_size=1000)
    return len(changes)


def audited_update(
    *, actor, instance, changes: dict, reason: str = "", business_date=None, shown=lambda field, value: value
) -> list[str]:
    """Set fields on ``instance`` and record each one that really changed.

    Returns the names of the changed fields (empty: nothing was written). The
    action of each record is "<model>.<field>", e.g. "order.auto_renew";
    ``shown(field, value)`` is how a value is written in it (e.g. an amount in
    its currency's format).
    """
    changed = []
    records = []
    for field, value in changes.items():
        before = getattr(instance, field)
        if before == value:
            continue
        setattr(instance, field, value)
        changed.append(field)
        records.append(
            Change(f"{instance._meta.model_name}.{field}", instance, shown(field, before), shown(field, value), reason)
        )
    if changed:
        instance.save(update_fields=changed)
        audit_record_many(actor=actor, changes=records, business_date=business_date)
    return changed
