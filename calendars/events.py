"""What a renewal calendar shows for one order: plain values in, events out,
no database. The verdict (will it renew by itself, and if not why) is the
renewal engine's own (renewals.rules.eligibility over renewals.facts), read
by calendars.selectors; this module only words it and dates it.

Each event is all-day: an expiry on the order's paid-thru date, and for an
order that renews by itself its attempt on the night the nightly run tries
it. UIDs are stable per order and cycle (the paid-thru date being renewed),
so a calendar app updates an event when its words change and adds a new one
for the next cycle once the order renewed.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from core.money import format_money

EXPIRY = "expiry"
ATTEMPT = "attempt"


@dataclass(frozen=True)
class Event:
    uid: str
    day: datetime.date
    summary: str
    description: str
    # DTSTAMP: the order's last change, so that the same facts give the same
    # bytes (and the same ETag) on every fetch.
    stamp: datetime.datetime


@dataclass(frozen=True)
class OrderView:
    """One order as the calendar words it."""

    id: int
    ref: str
    label: str  # its domain, else its product ("Basic, 12 month(s)")
    expires_on: datetime.date
    updated_at: datetime.datetime
    payment_source: str  # orders.models.PaymentSource
    customer: str = ""  # named in a reseller's calendar, "" in the customer's own


@dataclass(frozen=True)
class Outlook:
    """The engine's verdict for the order, in words: ``attempt_on`` is the
    night it is tried next (None: it will not renew by itself), ``reason``
    and ``what_to_do`` say why not and what to do."""

    attempt_on: datetime.date | None
    price: Decimal | None = None
    currency: str = ""
    reason: str = ""
    what_to_do: str = ""
    # Said of an order that renews by itself but whose next try is not the
    # window's first night (a retry policy's next night), else "".
    attempt_note: str = ""


def uid(order_id: int, cycle: datetime.date, kind: str, host: str) -> str:
    """Stable per order, cycle and kind (RFC 5545 UID): the same event on
    every fetch, a new one once the order renewed."""
    return f"order-{order_id}-{cycle.isoformat()}-{kind}@{host}"


def _name(order: OrderView) -> str:
    name = f"{order.ref} {order.label}".strip()
    return f"{order.customer}: {name}" if order.customer else name


def _paid_by(order: OrderView, outlook: Outlook) -> str:
    source = "by card" if order.payment_source == "card" else "from the balance"
    if outlook.price is None:
        return source
    return f"{format_money(outlook.price, outlook.currency)} {source}"


def order_events(order: OrderView, outlook: Outlook, host: str) -> list[Event]:
    """The order's expiry, and its automatic attempt when it renews by itself."""
    name = _name(order)
    expiry_uid = uid(order.id, order.expires_on, EXPIRY, host)
    if outlook.attempt_on is None:
        return [
            Event(
                expiry_uid,
                order.expires_on,
                f"{name} expires (will not renew automatically)",
                f"{name} is paid through {order.expires_on.isoformat()} and will not renew automatically. "
                f"Why: {outlook.reason} What to do: {outlook.what_to_do}",
                order.updated_at,
            )
        ]
    paid_by = _paid_by(order, outlook)
    attempt = f"It renews automatically on {outlook.attempt_on.isoformat()} ({paid_by})."
    if outlook.attempt_note:
        attempt = f"{attempt[:-1]}; {outlook.attempt_note}."
    return [
        Event(
            expiry_uid,
            order.expires_on,
            f"{name} expires",
            f"{name} is paid through {order.expires_on.isoformat()}. {attempt}",
            order.updated_at,
        ),
        Event(
            uid(order.id, order.expires_on, ATTEMPT, host),
            outlook.attempt_on,
            f"{name} renews automatically ({paid_by})",
            f"The nightly run renews {name} ({paid_by}): keep enough funds on the account, or a usable card. "
            f"It is paid through {order.expires_on.isoformat()}.",
            order.updated_at,
        ),
    ]
