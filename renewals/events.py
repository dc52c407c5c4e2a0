"""The resellers' webhook events of renewals' causes, built from what each
cause already holds and written with it (webhooks.services.events_emit, in
the cause's transaction). docs/webhooks.md documents every ``data`` field.

Each builder first asks which of its resellers have a subscriber (in memory,
no SQL): a night whose resellers have no endpoint builds and writes nothing.
"""

import datetime
from collections.abc import Iterable

from tenants.models import Customer
from webhooks.models import EventType
from webhooks.services import EventSpec, events_emit, subscribed


def _customer_refs(ids: Iterable[int]) -> dict[int, str]:
    return dict(Customer.objects.filter(pk__in=set(ids)).values_list("pk", "ref"))


def renewed_events(charges, invoice_ids: dict[int, int], numbers: dict[int, str], *, on: datetime.date, source: str):
    """``order.renewed`` per line, ``order.restored`` per line that was
    suspended, ``invoice.created`` per charge (renewals.writer.finish)."""
    resellers = {c.reseller_id for c in charges}
    wanted = {
        kind: subscribed(kind, resellers)
        for kind in (EventType.ORDER_RENEWED, EventType.ORDER_RESTORED, EventType.INVOICE_CREATED)
    }
    if not any(wanted.values()):
        return
    specs = []
    for c in charges:
        invoice_id, number = invoice_ids[c.customer_id], numbers[c.customer_id]
        common = {"reseller_id": c.reseller_id, "customer_id": c.customer_id}
        customer = {"id": c.customer_id, "ref": c.customer_ref}
        if c.reseller_id in wanted[EventType.INVOICE_CREATED]:
            data = {
                "invoice": {"id": invoice_id, "number": number},
                "customer": customer,
                "business_date": on.isoformat(),
                "currency": c.currency,
                "total": str(c.total),
                "source": str(source),
                "complimentary": c.complimentary,
                "lines": [_line(line) for line in c.lines],
            }
            specs.append(EventSpec(EventType.INVOICE_CREATED, f"invoice:{invoice_id}", data=data, **common))
        for line in c.lines:
            key = f"order:{line.order_id}:{line.period.start.isoformat()}"
            order = {"id": line.order_id, "ref": line.order_ref}
            if c.reseller_id in wanted[EventType.ORDER_RENEWED]:
                data = {
                    "order": order,
                    "customer": customer,
                    "invoice": {"id": invoice_id, "number": number},
                    **_line(line),
                    "currency": c.currency,
                    "business_date": on.isoformat(),
                    "source": str(source),
                    "complimentary": c.complimentary,
                }
                specs.append(EventSpec(EventType.ORDER_RENEWED, key, data=data, **common))
            if line.status == "suspended" and c.reseller_id in wanted[EventType.ORDER_RESTORED]:
                data = {
                    "order": order,
                    "customer": customer,
                    "expires_on": line.period.end.isoformat(),
                    "business_date": on.isoformat(),
                    "via": "renewal",
                }
                specs.append(EventSpec(EventType.ORDER_RESTORED, key, data=data, **common))
    # Keyed by the new invoice and by the cycles its lines just renewed (once each: renewals' unique lines).
    events_emit(specs, new=True)


def _line(line) -> dict:
    return {
        "order": {"id": line.order_id, "ref": line.order_ref},
        "description": line.description,
        "period_start": line.period.start.isoformat(),
        "period_end": line.period.end.isoformat(),
        "months": line.period.months,
        "amount": str(line.period.amount),
    }


def failed_events(failures, on: datetime.date) -> None:
    """``renewal.failed`` per account whose batch failed on ``on`` (every
    failed attempt, not only those that send a notice): renewals.notices."""
    wanted = subscribed(EventType.RENEWAL_FAILED, {f.reseller_id for f in failures})
    failures = [f for f in failures if f.reseller_id in wanted]
    if not failures:
        return
    refs = _customer_refs(f.customer_id for f in failures)
    events_emit(
        [
            EventSpec(
                EventType.RENEWAL_FAILED,
                f"account:{f.customer_id}:{on.isoformat()}",
                reseller_id=f.reseller_id,
                customer_id=f.customer_id,
                data={
                    "customer": {"id": f.customer_id, "ref": refs.get(f.customer_id, "")},
                    "business_date": on.isoformat(),
                    "reason": str(f.reason),
                    "detail": f.detail,
                    "currency": f.currency,
                    "total": str(f.total),
                    "orders": [
                        {
                            "id": o.id,
                            "ref": o.ref,
                            "expires_on": o.expires_on.isoformat(),
                            "amount": str(o.period.amount) if o.period else None,
                        }
                        for o in f.orders
                    ],
                    "retry_until": min(o.expires_on for o in f.orders).isoformat() if f.orders else None,
                    # The retry policy's last-chance night (renewals.notices decides it alike).
                    "last_chance": any(
                        o.expires_on - datetime.timedelta(days=getattr(f, "last_chance_day", 0)) == on for o in f.orders
                    ),
                },
            )
            for f in failures
        ]
    )


def moved_events(moves, on: datetime.date, *, via: str, keys: dict[int, str] | None = None) -> None:
    """``order.suspended``, ``order.terminated`` or ``order.restored`` per
    lifecycle ``Move`` (renewals.lifecycle: ``via`` "lifecycle"; an admin's
    in renewals.operator: "admin", keyed by its event)."""
    kinds = {"suspended": EventType.ORDER_SUSPENDED, "terminated": EventType.ORDER_TERMINATED}
    kinds["active"] = EventType.ORDER_RESTORED
    wanted = {kind: subscribed(kind, {m.reseller_id for m in moves}) for kind in set(kinds.values())}
    moves = [m for m in moves if m.reseller_id in wanted[kinds[str(m.to)]]]
    if not moves:
        return
    refs = _customer_refs(m.customer_id for m in moves)
    specs = []
    for m in moves:
        data = {
            "order": {"id": m.order_id, "ref": m.order_ref},
            "customer": {"id": m.customer_id, "ref": refs.get(m.customer_id, "")},
            "expires_on": m.cycle.isoformat(),
            "business_date": on.isoformat(),
            "via": via,
        }
        if str(m.to) == "suspended":
            data["terminate_on"] = m.terminate_on.isoformat() if m.terminate_on else None
        key = (keys or {}).get(m.order_id) or f"order:{m.order_id}:{m.cycle.isoformat()}"
        specs.append(EventSpec(kinds[str(m.to)], key, reseller_id=m.reseller_id, customer_id=m.customer_id, data=data))
    # Keyed by order and cycle, which the move's status claim just took, or by the admin's new event.
    events_emit(specs, new=True)


def balance_low_events(shortfalls: list[dict]) -> None:
    """``balance.low`` per advance notice with a shortfall
    (renewals.reminders); each a dict of the notice's plain values."""
    wanted = subscribed(EventType.BALANCE_LOW, {s["reseller_id"] for s in shortfalls})
    shortfalls = [s for s in shortfalls if s["reseller_id"] in wanted]
    if not shortfalls:
        return
    refs = _customer_refs(s["customer_id"] for s in shortfalls)
    events_emit(
        [
            EventSpec(
                EventType.BALANCE_LOW,
                f"account:{s['customer_id']}:{s['attempt_on']}",
                reseller_id=s["reseller_id"],
                customer_id=s["customer_id"],
                data={
                    "customer": {"id": s["customer_id"], "ref": refs.get(s["customer_id"], "")},
                    "attempt_on": s["attempt_on"],
                    "currency": s["currency"],
                    "total": s["total"],
                    "available": s["available"],
                    "short": s["short"],
                    "orders": s["orders"],
                },
            )
            for s in shortfalls
        ]
    )
