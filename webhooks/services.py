"""Every write of the webhooks app: the resellers' endpoints, the outbox's
events (``events_emit``, called by renewals in its causes' transactions) and
redeliveries.

Who receives an event: the enabled endpoints subscribed to its type of the
customer's reseller and of every reseller above it (a reseller sees its
subtree). That set is small and changes rarely, so each process keeps it in
memory (``subscriptions``) and checks a version number in the cache (no SQL)
before using it: a batch of the nightly run whose resellers have no
endpoint adds no statement at all, one with endpoints adds two (its events,
then their deliveries joined to the endpoints still enabled, so a stale
table can never address an endpoint that is gone).
"""

import datetime
import ipaddress
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from core.errors import DomainError, NotFound
from core.queue import enqueue_on_commit
from core.sql import db_now, insert_rows
from tenants.models import Reseller
from tenants.scope import Actor, ActorKind
from webhooks.models import Delivery, DeliveryState, Endpoint, Event, EventType

DELIVER_TASK = "webhooks.tasks.deliver_webhooks"
VERSION_KEY = "webhooks:subscriptions:version"
# A process re-reads the subscriptions at least this often even when the
# cache cannot tell it of a change (Redis down: each process has its own).
MAX_AGE_SECONDS = 300
MAX_ENDPOINTS = 20  # per reseller
URL_CHARS = 500
SQLITE_PAIRS = 5000
EVENT_TYPES = frozenset(EventType.values)  # checked per event: the enum's values are rebuilt at each read


class WebhookError(DomainError):
    code = "invalid_webhook"

    def __init__(self, message: str, *, field: str = "", code: str | None = None):
        super().__init__(message, code=code)
        self.field = field


# --- who is subscribed --------------------------------------------------------


@dataclass
class _Table:
    version: object = None
    loaded_at: float = 0.0
    known: frozenset = frozenset()  # every reseller id there was when loaded
    # {reseller id: {event type: (endpoint ids...)}}, for the resellers with
    # a subscribed endpoint at or above them.
    targets: dict = field(default_factory=dict)


_table: _Table | None = None
_lock = threading.Lock()


def _load(paths: dict[int, str] | None = None) -> _Table:
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        version = cache.get(VERSION_KEY)
    endpoints = list(Endpoint.objects.filter(enabled=True).values_list("pk", "reseller_id", "events", "reseller__path"))
    if paths is None:
        paths = dict(Reseller.objects.values_list("pk", "path")) if endpoints else {}
    resellers = list(paths.items())
    targets: dict[int, dict[str, tuple]] = {}
    for reseller_id, path in resellers:
        for pk, _owner, events, owner_path in endpoints:
            if path.startswith(owner_path):
                for kind in events:
                    by_type = targets.setdefault(reseller_id, {})
                    by_type[kind] = (*by_type.get(kind, ()), pk)
    known = frozenset(pk for pk, _ in resellers)
    return _Table(version, time.monotonic(), known, targets)


def subscriptions_refresh(*, paths: dict[int, str] | None = None) -> None:
    """Read the subscriptions again now (the nightly run does, once, with its
    catalog, giving the resellers' paths it read): one query, or two
    without ``paths`` when an endpoint exists."""
    global _table
    table = _load(paths)
    with _lock:
        _table = table


def _current(reseller_ids) -> _Table:
    global _table
    table = _table
    stale = (
        table is None
        or time.monotonic() - table.loaded_at > MAX_AGE_SECONDS
        or cache.get(VERSION_KEY) != table.version
        # A reseller created since: its place in the tree is not known yet.
        or (table.targets and not table.known.issuperset(reseller_ids))
    )
    if stale:
        table = _load()
        with _lock:
            _table = table
    return table


def subscriptions_changed() -> None:
    """Every process reads the subscriptions again before its next event: now
    (this transaction's own reads) and once it commits (the others')."""
    global _table

    def bump():
        cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)

    with _lock:
        _table = None
    bump()
    transaction.on_commit(bump, robust=True)


def subscribed(event_type: str, reseller_ids) -> set[int]:
    """Which of ``reseller_ids`` (customers' resellers) have an endpoint
    receiving ``event_type`` at or above them: from memory, no SQL unless
    the subscriptions changed."""
    reseller_ids = set(reseller_ids)
    if not reseller_ids:
        return set()
    targets = _current(reseller_ids).targets
    return {r for r in reseller_ids if event_type in targets.get(r, ())}


def deliveries_ask() -> None:
    """A delivery pass once this transaction commits, when a broker's worker
    can run it; without one (tasks run in-process) beat's every-minute pass
    or ``manage.py deliver_webhooks`` sends them: a POST never runs inside the
    request or the nightly run that wrote the event."""
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        enqueue_on_commit(DELIVER_TASK)


# --- the outbox ------------------------------------------------------------------


@dataclass(frozen=True)
class EventSpec:
    """One event, as plain values: ``key`` makes it once per type (the
    same cause written twice emits one event)."""

    type: str
    key: str
    reseller_id: int
    customer_id: int | None
    data: dict


def events_emit(specs: list[EventSpec], *, new: bool = False) -> int:
    """Write the events that have a subscriber, with a pending delivery per
    subscribed endpoint, in the caller's transaction; their delivery is
    asked for after commit. Returns how many events were offered.

    No subscriber among ``specs``: no statement. Otherwise two: the events,
    and the deliveries (INSERT ... SELECT over the endpoints still enabled).
    An event already written for its type and key is skipped, with its
    deliveries; ``new``: the caller's keys cannot have been written before
    (the cause was just claimed, e.g. an invoice's id), so the events go by
    COPY on PostgreSQL, without the conflict check."""
    if not specs:
        return 0
    unknown = {spec.type for spec in specs} - EVENT_TYPES
    if unknown:
        raise ValueError(f"unknown webhook event type {', '.join(map(repr, sorted(unknown)))}")
    table = _current({s.reseller_id for s in specs})
    wanted = [(s, table.targets.get(s.reseller_id, {}).get(s.type, ())) for s in specs]
    wanted = [(s, endpoints) for s, endpoints in wanted if endpoints]
    if not wanted:
        return 0
    now = db_now()
    rows, public_ids, endpoint_ids = [], [], []
    for spec, endpoints in wanted:
        public_id = f"evt_{secrets.token_hex(12)}"
        rows.append(
            (
                public_id,
                spec.type,
                spec.key,
                spec.reseller_id,
                spec.customer_id,
                json.dumps(spec.data, separators=(",", ":"), sort_keys=True),
                now,
            )
        )
        for endpoint in endpoints:
            public_ids.append(public_id)
            endpoint_ids.append(endpoint)
    insert_rows(
        Event,
        ("public_id", "type", "key", "reseller_id", "customer_id", "data_json", "created_at"),
        rows,
        ignore_conflicts=not new,
    )
    _deliveries_insert(public_ids, endpoint_ids, now)
    deliveries_ask()
    return len(rows)


def _deliveries_insert(public_ids: list[str], endpoint_ids: list[int], now) -> int:
    """A pending delivery per (event public id, endpoint) whose event was
    written (not skipped as a repeat) and whose endpoint is still enabled."""
    if connection.vendor != "postgresql" and len(public_ids) > SQLITE_PAIRS:
        # SQLite's limit on a statement's parameters.
        return sum(
            _deliveries_insert(public_ids[i : i + SQLITE_PAIRS], endpoint_ids[i : i + SQLITE_PAIRS], now)
            for i in range(0, len(public_ids), SQLITE_PAIRS)
        )
    events, endpoints, deliveries = Event._meta.db_table, Endpoint._meta.db_table, Delivery._meta.db_table
    if connection.vendor == "postgresql":
        # Two array parameters: the driver adapts each once, not a VALUES row at a time.
        pairs, params = "unnest(%s::text[], %s::bigint[]) AS v(column1, column2)", [public_ids, endpoint_ids]
    else:
        pairs = "(VALUES " + ", ".join(["(%s, %s)"] * len(public_ids)) + ") AS v"
        params = [value for pair in zip(public_ids, endpoint_ids, strict=True) for value in pair]
    sql = (
        f"INSERT INTO {deliveries} (event_id, endpoint_id, state, attempts, next_attempt_at, last_status, "
        f"last_response, last_error, created_at) "
        f"SELECT ev.id, ep.id, %s, 0, %s, NULL, '', '', %s FROM {pairs} "
        f"JOIN {events} ev ON ev.public_id = v.column1 "
        f"JOIN {endpoints} ep ON ep.id = v.column2 AND ep.enabled"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [DeliveryState.PENDING.value, now, now, *params])
        return cursor.rowcount


# --- endpoints ---------------------------------------------------------------------


def _own(actor: Actor) -> int:
    if actor.kind != ActorKind.RESELLER or not actor.reseller_id:
        raise WebhookError("only a reseller's staff manage its webhook endpoints", code="permission_denied")
    return actor.reseller_id


def _endpoint(actor: Actor, endpoint_id, *, lock: bool = False) -> Endpoint:
    rows = Endpoint.objects.filter(pk=endpoint_id, reseller_id=_own(actor))
    if lock:
        rows = rows.select_for_update()
    endpoint = rows.first()
    if endpoint is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return endpoint


def insecure_loopback_allowed() -> bool:
    """http:// to this machine, for development and tests only (settings.
    WEBHOOK_INSECURE_LOOPBACK, by default DEBUG)."""
    return bool(settings.WEBHOOK_INSECURE_LOOPBACK)


def url_checked(url) -> str:
    """An endpoint's URL, or WebhookError saying what is wrong with it:
    https with a host name or a public address; http only to localhost
    while ``insecure_loopback_allowed``."""
    url = (url or "").strip() if isinstance(url, str) else None
    if not url:
        raise WebhookError("url: give the endpoint's URL (https://...)", field="url")
    if len(url) > URL_CHARS:
        raise WebhookError(f"url: at most {URL_CHARS} characters", field="url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise WebhookError(f"url: not a URL ({exc})", field="url") from exc
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password or parts.fragment:
        raise WebhookError("url: give scheme and host, without a user, password or #fragment", field="url")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    loopback = host == "localhost" or (address is not None and address.is_loopback)
    if parts.scheme == "http" and loopback and insecure_loopback_allowed():
        return url
    if parts.scheme != "https":
        raise WebhookError("url: must start with https:// (the events carry customers' data)", field="url")
    if loopback or (address is not None and not address.is_global):
        raise WebhookError("url: must be a public host, not a private or local address", field="url")
    return url


def events_checked(events) -> list[str]:
    if not isinstance(events, list | tuple) or not events:
        raise WebhookError(f"events: choose one or more of {', '.join(EventType.values)}", field="events")
    unknown = [e for e in events if e not in EventType.values]
    if unknown:
        raise WebhookError(
            f"events: unknown {', '.join(map(str, unknown))}; choose among {', '.join(EventType.values)}",
            field="events",
        )
    return [e for e in EventType.values if e in events]  # in the documented order, once each


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def endpoint_create(*, actor: Actor, url, events) -> Endpoint:
    """A new endpoint of the actor's reseller; its secret is on the result."""
    reseller_id = _own(actor)
    url, events = url_checked(url), events_checked(events)
    with transaction.atomic():
        Reseller.objects.select_for_update().filter(pk=reseller_id).first()  # counts one at a time
        if Endpoint.objects.filter(reseller_id=reseller_id).count() >= MAX_ENDPOINTS:
            raise WebhookError(f"a reseller has at most {MAX_ENDPOINTS} endpoints", code="too_many_endpoints")
        endpoint = Endpoint.objects.create(reseller_id=reseller_id, url=url, events=events, secret=new_secret())
        subscriptions_changed()
    return endpoint


def endpoint_update(*, actor: Actor, endpoint_id, url=None, events=None, enabled: bool | None = None) -> Endpoint:
    """Change what is given. Enabling again clears the failure and sends the
    deliveries that waited (disabling keeps them, for later)."""
    url = url_checked(url) if url is not None else None
    events = events_checked(events) if events is not None else None
    with transaction.atomic():
        endpoint = _endpoint(actor, endpoint_id, lock=True)
        if url is not None:
            endpoint.url = url
        if events is not None:
            endpoint.events = events
        if enabled is True and not endpoint.enabled:
            endpoint.enabled, endpoint.disabled_at, endpoint.disabled_reason = True, None, ""
            endpoint.failing_since = endpoint.disabled_told_at = None
            now = timezone.now()
            Delivery.objects.filter(endpoint=endpoint, state__in=[DeliveryState.PENDING, DeliveryState.FAILED]).update(
                next_attempt_at=now
            )
            deliveries_ask()
        elif enabled is False and endpoint.enabled:
            endpoint.enabled, endpoint.disabled_at = False, timezone.now()
            endpoint.disabled_reason = f"disabled by {actor.label}"
            endpoint.disabled_told_at = endpoint.disabled_at  # nobody to tell: they did it
        endpoint.save()
        subscriptions_changed()
    return endpoint


def endpoint_rotate_secret(*, actor: Actor, endpoint_id) -> Endpoint:
    """A new secret at once: deliveries from now on are signed with it."""
    with transaction.atomic():
        endpoint = _endpoint(actor, endpoint_id, lock=True)
        endpoint.secret = new_secret()
        endpoint.save(update_fields=["secret", "updated_at"])
    return endpoint


def endpoint_delete(*, actor: Actor, endpoint_id) -> None:
    """The endpoint and its deliveries (the events stay, for other endpoints)."""
    with transaction.atomic():
        _endpoint(actor, endpoint_id, lock=True).delete()
        subscriptions_changed()


def delivery_redeliver(*, actor: Actor, delivery_id) -> Delivery:
    """Send the delivery's event again, now (same event id): a new attempt
    whatever its state. An endpoint that is disabled gets it once enabled."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update()
            .filter(pk=delivery_id, endpoint__reseller_id=_own(actor))
            .select_related("endpoint", "event")
            .first()
        )
        if delivery is None:
            raise NotFound(f"webhook delivery {delivery_id} not found")
        return _redeliver(delivery)


def _redeliver(delivery: Delivery) -> Delivery:
    delivery.state, delivery.next_attempt_at = DeliveryState.PENDING, timezone.now()
    delivery.save(update_fields=["state", "next_attempt_at"])
    deliveries_ask()
    return delivery


def deliveries_redeliver_admin(delivery_ids) -> int:
    """The admin's action: every given delivery again, now."""
    with transaction.atomic():
        count = Delivery.objects.filter(pk__in=list(delivery_ids)).update(
            state=DeliveryState.PENDING, next_attempt_at=timezone.now()
        )
        deliveries_ask()
    return count


def at(value: datetime.datetime) -> int:
    """A moment as the payloads and the signature give it: Unix seconds."""
    return int(value.timestamp())
