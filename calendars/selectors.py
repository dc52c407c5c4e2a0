"""Reads of the renewal calendars: a feed by its secret (the public URL),
the acting login's feed, and what a feed shows.

A feed's content is read in a fixed number of queries whatever its size: the
orders (one indexed range of paid-thru dates, cut at ``MAX_ORDERS``), their
accounts, and the catalog (plans and prices, the reseller tree); then each
order is decided by the renewal engine's own rule (renewals.rules
.eligibility over renewals.facts, as the sweep, its preview and "why won't
this renew?" decide it) and worded by calendars.events.
"""

import datetime
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count
from django.urls import reverse

from balances.models import Account
from calendars.events import Event, OrderView, Outlook, order_events
from calendars.models import Feed
from core.dates import business_today
from core.isolation import Subject, each
from core.sql import ids_in
from orders.models import Order
from orders.states import OrderStatus
from renewals.facts import ORDER_COLUMNS, OrderRow, account_rows, facts_for, load_catalog
from renewals.rules import EVERY_NIGHT, eligibility, next_attempt_night, next_attempt_sentence
from renewals.selectors import what_to_do_about
from tenants.scope import Actor, ActorKind

# How far ahead a feed looks: a customer's orders for a year and a bit (a
# yearly renewal shows before its window opens), a reseller's subtree for
# a quarter (at a million orders a year of them is no calendar anyone reads).
CUSTOMER_HORIZON_DAYS = 400
RESELLER_HORIZON_DAYS = 90
# At most this many orders (two events each) in one feed, the soonest first.
# Rendering costs about 0.3-0.6 ms an event with the icalendar library on
# this machine (calendars/management/commands/bench_calendar.py), and
# calendar apps time out on feeds of many megabytes. Past it, the feed says
# until when it is whole and shows one event a day for the rest of its
# horizon: how many more orders expire that day (one grouped query).
MAX_ORDERS = 1000
# What secrets.token_urlsafe(32) makes; anything else is not looked up.
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{32,64}")
NO_ATTEMPT_LEFT = "No automatic attempt is left before it expires (its provider's retry policy)."
RENEW_BY_HAND = "Renew it by hand before it expires."


@dataclass(frozen=True)
class FeedContent:
    name: str  # X-WR-CALNAME
    description: str  # X-WR-CALDESC: what it shows, and what it leaves out
    events: list[Event]
    first: datetime.date
    horizon: datetime.date  # the last paid-thru date it looks at
    # More orders expire by ``horizon`` than the feed holds: it is whole up
    # to ``whole_until`` only.
    capped: bool = False
    whole_until: datetime.date | None = None
    # Orders whose events could not be built (logged; the rest are shown).
    left_out: list[str] = field(default_factory=list)


def feed_by_secret(secret: str) -> Feed | None:
    """The feed a URL's secret opens, or None (unknown, or replaced since:
    the old secret is gone). One indexed lookup of the unique secret; a
    string that cannot be a secret is not looked up at all."""
    if not SECRET_RE.fullmatch(secret):
        return None
    return Feed.objects.select_related("customer", "reseller").filter(secret=secret).first()


def feed_url(feed: Feed, request=None) -> str:
    """The feed's absolute URL, on the portal's public address
    (settings.PORTAL_URL), else the request's."""
    path = reverse("calendar-feed", args=[feed.secret])
    base = (settings.PORTAL_URL or "").rstrip("/")
    if not base and request is not None:
        return request.build_absolute_uri(path)
    return base + path


def _owner(feed: Feed) -> Actor:
    """Who the feed reads as: its customer, or its reseller (the subtree),
    through the tenancy scope every other read uses."""
    if feed.customer_id:
        return Actor(kind=ActorKind.CUSTOMER, label=f"calendar {feed.pk}", customer_id=feed.customer_id)
    return Actor(
        kind=ActorKind.RESELLER,
        label=f"calendar {feed.pk}",
        reseller_id=feed.reseller_id,
        reseller_path=feed.reseller.path,
    )


def feed_content(*, feed: Feed, host: str, on: datetime.date | None = None) -> FeedContent:
    """What the feed shows on business date ``on``: an event per upcoming
    expiry, and per automatic attempt of the orders that renew by
    themselves; ``host`` makes the events' UIDs (RFC 5545: globally unique).

    Queries: the orders, their accounts, the catalog's three (plans, prices,
    resellers), and past ``MAX_ORDERS`` the count of the rest per day,
    whatever the number of orders."""
    on = on or business_today()
    owner = _owner(feed)
    reseller = owner.kind == ActorKind.RESELLER
    horizon = on + datetime.timedelta(days=RESELLER_HORIZON_DAYS if reseller else CUSTOMER_HORIZON_DAYS)
    # Active orders only: a suspended or terminated one is past its paid-thru
    # date, and an endless one has none (nothing to show).
    orders = (
        Order.objects.visible_to(owner)
        .filter(status=OrderStatus.ACTIVE, expires_on__gte=on, expires_on__lte=horizon)
        .order_by("expires_on", "pk")
    )
    columns = len(ORDER_COLUMNS)
    rows = list(orders.values_list(*ORDER_COLUMNS, "domain", "updated_at")[: MAX_ORDERS + 1])
    capped = len(rows) > MAX_ORDERS
    rows = rows[:MAX_ORDERS]
    whole_until = None
    if capped:
        # Whole up to the day before the last one shown (that day may hold more).
        whole_until = rows[-1][ORDER_COLUMNS.index("expires_on")] - datetime.timedelta(days=1)
    accounts = account_rows(Account.objects.filter(ids_in("pk", {row[2] for row in rows}))) if rows else {}
    catalog = load_catalog()
    events: list[Event] = []

    def decide(row: tuple) -> None:
        order = OrderRow(*row[:columns])
        domain, updated_at = row[columns:]
        account = accounts[order.customer_id]
        view = OrderView(
            id=order.id,
            ref=order.ref,
            label=domain or f"({catalog.describe(order)})",
            expires_on=order.expires_on,
            updated_at=updated_at,
            payment_source=order.payment_source,
            customer=account.name if reseller else "",
        )
        events.extend(order_events(view, _outlook(order, account, catalog, on, owner.kind), host))

    failed = each(
        rows,
        decide,
        stage="calendar",
        subject=lambda row: Subject(f"order:{row[0]}", row[1], row[2]),
        on=on,
        atomic=False,
        record=False,  # a read: logged, the order left out, the rest shown
    )
    left_out = [row[1] for row, _ in failed.failed]
    if capped:
        events += _more_events(feed, orders, whole_until, rows, host)
    name = feed.reseller.name if reseller else feed.customer.name
    return FeedContent(
        name=f"Renewals: {name}" + (" (customers)" if reseller else ""),
        description=_description(on, horizon, capped, whole_until, left_out, reseller),
        events=events,
        first=on,
        horizon=horizon,
        capped=capped,
        whole_until=whole_until,
        left_out=left_out,
    )


def _outlook(order: OrderRow, account, catalog, on: datetime.date, kind: str) -> Outlook:
    """The engine's verdict for the order, in the calendar's words."""
    facts = facts_for(order, account, catalog)
    verdict = eligibility(facts, on)
    if verdict.reason is not None:
        return Outlook(None, reason=verdict.reason.label, what_to_do=what_to_do_about(facts, verdict.reason, kind))
    note = ""
    attempt_on = verdict.window_opens
    if attempt_on < on:
        # Inside its window: tonight, or its retry policy's next night (a
        # reseller's unusable policy: tonight, when the run fails it).
        try:
            policy = catalog.policy_for(account)
        except ValueError:
            policy = EVERY_NIGHT
        attempt_on = next_attempt_night(policy, expires_on=order.expires_on, window_opens=verdict.window_opens, on=on)
        if attempt_on is None:
            return Outlook(None, reason=NO_ATTEMPT_LEFT, what_to_do=RENEW_BY_HAND)
        if attempt_on != on:
            note = next_attempt_sentence(attempt_on)
    return Outlook(attempt_on, catalog.next_period(order).amount, account.currency, attempt_note=note)


def _more_events(feed: Feed, orders, whole_until: datetime.date, shown: list, host: str) -> list[Event]:
    """One event a day past ``whole_until``: how many of the day's orders
    this calendar does not list one by one (one grouped query)."""
    expires_on = ORDER_COLUMNS.index("expires_on")
    listed: dict[datetime.date, int] = {}
    for row in shown:
        if row[expires_on] > whole_until:
            listed[row[expires_on]] = listed.get(row[expires_on], 0) + 1
    per_day = (
        orders.filter(expires_on__gt=whole_until)
        .order_by("expires_on")
        .values_list("expires_on")
        .annotate(n=Count("pk"))
    )
    events = []
    for day, count in per_day:
        more = count - listed.get(day, 0)
        if more > 0:
            events.append(
                Event(
                    f"feed-{feed.pk}-more-{day.isoformat()}@{host}",
                    day,
                    f"{more} more order(s) expire",
                    f"{more} order(s) expiring on {day.isoformat()} are not listed one by one: this calendar lists "
                    f"the first {MAX_ORDERS} orders only, complete up to {whole_until.isoformat()}. The renewal "
                    "center lists them all.",
                    feed.rotated_at or feed.created_at,
                )
            )
    return events


def _description(on, horizon, capped, whole_until, left_out, reseller: bool) -> str:
    whose = "your customers' orders" if reseller else "your orders"
    text = (
        f"What renews when: {whose} expiring from {on.isoformat()} to {horizon.isoformat()}, each expiry and, "
        "for those that renew by themselves, the night they are tried. Refreshed twice a day."
    )
    if capped:
        text += (
            f" This calendar shows the first {MAX_ORDERS} orders only: it is complete up to "
            f"{whole_until.isoformat()}; the renewal center lists them all."
        )
    if left_out:
        text += f" {len(left_out)} order(s) could not be shown: {', '.join(left_out[:10])}."
    return text
