"""Delivering the outbox's events to the resellers' endpoints: at least once,
signed, with backoff; never inside a database transaction.

A pass claims due deliveries (one statement; rows another worker holds are
skipped on PostgreSQL, and a claimed row is not due again before its lease
ends, so a worker that dies leaves them to the next pass), loads them with
their events and endpoints in one query, then POSTs each with no transaction
open and records its outcome. A 2xx answer delivers it for good; anything
else (another status, a timeout, a refused connection) is a failure retried
1, 2, 4 ... minutes later, at most 6 hours apart; after MAX_ATTEMPTS (about
three days) it is given up (``dead``) until someone redelivers it.

An endpoint whose deliveries have all failed for 3 days since the first
failure after its last success is disabled; its waiting deliveries are kept
(they go out when it is enabled again) and its reseller is mailed once.
"""

import datetime
import hashlib
import hmac
import http.client
import json
import logging
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection as db
from django.db.models import Q
from django.utils import timezone

from core.isolation import Subject, each
from core.models import Stage
from tenants.models import Membership
from webhooks.models import DUE_STATES, FAILING_REASON, Delivery, DeliveryState, Endpoint
from webhooks.services import at

log = logging.getLogger("webhooks.delivery")
TIMEOUT_SECONDS = 10
RESPONSE_CHARS = 2000
MAX_BACKOFF = datetime.timedelta(hours=6)
MAX_ATTEMPTS = 20  # 1 + 2 + ... + 256 minutes, then 6-hourly: about 3 days
DISABLE_AFTER = datetime.timedelta(days=3)
BATCH = 50
PASS_SECONDS = 50  # beat starts a pass every minute
USER_AGENT = "BillingPortal-Webhooks/1.0"
SIGNATURE_HEADER = "Portal-Signature"
EVENT_ID_HEADER = "Portal-Event-Id"
# The tests replace it to end a pass's time without waiting for it.
clock = time.monotonic


def backoff(attempts: int) -> datetime.timedelta:
    """The wait after the ``attempts``-th failed try: 1 minute, doubling, at most 6 hours."""
    return min(datetime.timedelta(minutes=2 ** min(max(attempts - 1, 0), 20)), MAX_BACKOFF)


def body_of(delivery: Delivery) -> bytes:
    """What is POSTed: the same bytes on every try (the event never changes)."""
    event = delivery.event
    # The data's JSON text as stored (compact, sorted keys), spliced in: not parsed and dumped again.
    head = json.dumps({"created": at(event.created_at)}, separators=(",", ":"))[:-1]
    tail = json.dumps({"id": event.public_id, "type": event.type}, separators=(",", ":"))[1:]
    return f'{head},"data":{event.data_json},{tail}'.encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The Portal-Signature header: ``t=<unix seconds>,v1=<hex HMAC-SHA256
    of "<t>.<body>">`` (SPEC "Beyond the peers")."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect is the receiver's misconfiguration: a failure, never a second POST elsewhere.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str, str]:
    """(status, the response's first characters, error) of one POST."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, _excerpt(response), ""
    except urllib.error.HTTPError as exc:
        return exc.code, _excerpt(exc), f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        # The receiver's network, TLS or HTTP failing (a malformed answer too): a failed try, not a fault.
        reason = getattr(exc, "reason", exc)
        return None, "", f"{type(reason).__name__}: {reason}"[:500]


def _excerpt(response) -> str:
    try:
        return response.read(RESPONSE_CHARS).decode("utf-8", "replace")[:RESPONSE_CHARS]
    except OSError:
        return ""


def deliver_due(*, limit: int = BATCH, seconds: float = PASS_SECONDS) -> dict[str, int]:
    """Send what is due, ``limit`` at a time, until nothing is or ``seconds``
    have passed; then tell the resellers of endpoints just disabled. One
    delivery's unexpected error is recorded as a fault and as a failed try,
    and the others go on (core.isolation)."""
    counts = {"delivered": 0, "failed": 0, "disabled": 0, "told": 0}
    deadline = clock() + seconds
    while clock() < deadline:
        claimed = _claim(limit, timezone.now())
        if not claimed:
            break
        deliveries = list(Delivery.objects.filter(pk__in=claimed).select_related("event", "endpoint").order_by("pk"))
        each(
            deliveries,
            lambda d: _send(d, counts),
            stage=Stage.WEBHOOKS,
            subject=_subject,
            atomic=False,  # a network call: no transaction around it
            failed=lambda d, error: _record(d, None, "", f"{type(error).__name__}: {error}", counts),
        )
        if len(claimed) < limit:
            break
    counts["told"] = disabled_tell()
    return counts


def _claim(size: int, now: datetime.datetime) -> list[int]:
    """Up to ``size`` due deliveries of enabled endpoints, oldest due first,
    leased for the longest a try can take plus a minute."""
    table, endpoints = Delivery._meta.db_table, Endpoint._meta.db_table
    due = f"state IN (%s, %s) AND next_attempt_at <= %s AND endpoint_id IN (SELECT id FROM {endpoints} WHERE enabled)"
    adapt = db.ops.adapt_datetimefield_value
    lease = now + datetime.timedelta(seconds=TIMEOUT_SECONDS * 3 + 60)
    params = [*(s.value for s in DUE_STATES), adapt(now), size, adapt(lease)]
    if db.vendor == "postgresql":
        # Materialised: as an IN (subquery) the LIMITed SKIP LOCKED pick may run twice (notifications.delivery).
        sql = (
            f"WITH picked AS MATERIALIZED (SELECT id FROM {table} WHERE {due} ORDER BY next_attempt_at, id "
            f"LIMIT %s FOR UPDATE SKIP LOCKED) "
            f"UPDATE {table} SET next_attempt_at = %s FROM picked WHERE {table}.id = picked.id RETURNING {table}.id"
        )
    else:  # SQLite has one writer: nothing to skip
        sql = (
            f"WITH picked AS (SELECT id FROM {table} WHERE {due} ORDER BY next_attempt_at, id LIMIT %s) "
            f"UPDATE {table} SET next_attempt_at = %s WHERE id IN (SELECT id FROM picked) RETURNING id"
        )
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(row[0] for row in cursor.fetchall())


def _send(delivery: Delivery, counts: dict[str, int]) -> None:
    body = body_of(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: delivery.event.public_id,
        SIGNATURE_HEADER: signature(delivery.endpoint.secret, int(time.time()), body),
    }
    status, excerpt, error = post(delivery.endpoint.url, body, headers)
    _record(delivery, status, excerpt, error, counts)


def _record(delivery: Delivery, status: int | None, excerpt: str, error: str, counts: dict[str, int]) -> None:
    now = timezone.now()
    attempts = delivery.attempts + 1
    fields = {"attempts": attempts, "last_status": status, "last_response": excerpt, "last_attempt_at": now}
    endpoint = Endpoint.objects.filter(pk=delivery.endpoint_id)
    if status is not None and 200 <= status < 300:
        Delivery.objects.filter(pk=delivery.pk).update(
            state=DeliveryState.DELIVERED, delivered_at=now, next_attempt_at=None, last_error="", **fields
        )
        endpoint.filter(failing_since__isnull=False).update(failing_since=None)
        counts["delivered"] += 1
        return
    dead = attempts >= MAX_ATTEMPTS
    Delivery.objects.filter(pk=delivery.pk).update(
        state=DeliveryState.DEAD if dead else DeliveryState.FAILED,
        next_attempt_at=None if dead else now + backoff(attempts),
        last_error=(error or f"HTTP {status}")[:2000],
        **fields,
    )
    counts["failed"] += 1
    log.info("webhook delivery %s to %s failed (try %s): %s", delivery.pk, delivery.endpoint.url, attempts, error)
    endpoint.filter(failing_since__isnull=True).update(failing_since=now)
    # Three days of nothing but failures: disabled, once (the conditional UPDATE).
    if endpoint.filter(enabled=True, failing_since__lte=now - DISABLE_AFTER).update(
        enabled=False,
        disabled_at=now,
        disabled_reason=FAILING_REASON,
        disabled_told_at=None,
    ):
        from webhooks.services import subscriptions_changed

        subscriptions_changed()
        counts["disabled"] += 1


def disabled_tell() -> int:
    """Mail the resellers of endpoints disabled for failing and not told yet:
    claimed before sending (two workers never send one twice), released if
    the mail server fails (the next pass tries again)."""
    told = 0
    waiting = Endpoint.objects.filter(enabled=False, disabled_told_at__isnull=True, disabled_at__isnull=False)
    for endpoint in waiting.select_related("reseller").order_by("pk")[:100]:
        now = timezone.now()
        if not Endpoint.objects.filter(pk=endpoint.pk, disabled_told_at__isnull=True).update(disabled_told_at=now):
            continue
        recipients = _recipients(endpoint)
        try:
            if recipients:
                send_mail(*_mail(endpoint), settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=False)
        except Exception as exc:  # noqa: BLE001 - the mail server's failure: the next pass tries again
            log.warning(
                "could not tell reseller %s of its disabled endpoint %s: %s", endpoint.reseller_id, endpoint.pk, exc
            )
            Endpoint.objects.filter(pk=endpoint.pk, disabled_told_at=now).update(disabled_told_at=None)
            continue
        told += 1
    return told


def _recipients(endpoint: Endpoint) -> list[str]:
    staff = (
        Membership.objects.filter(reseller_id=endpoint.reseller_id)
        .exclude(Q(user__email=""))
        .values_list("user__email", flat=True)
    )
    emails = [endpoint.reseller.email, *staff]
    return sorted({e.strip().lower() for e in emails if e and e.strip()})


def _mail(endpoint: Endpoint) -> tuple[str, str]:
    portal = getattr(settings, "PORTAL_URL", "").rstrip("/")
    subject = f"Webhook endpoint disabled: {endpoint.url}"
    body = (
        f"Every delivery to your webhook endpoint\n\n  {endpoint.url}\n\n"
        f"has failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC, so it was disabled on "
        f"{endpoint.disabled_at:%Y-%m-%d %H:%M} UTC.\n"
        "The events it missed are kept: enable it again on your panel's Webhooks page once it answers, "
        "and they are sent.\n\n"
        f"{portal}/reseller/webhooks/\n"
    )
    return subject, body


def _subject(delivery: Delivery) -> Subject:
    return Subject(
        key=f"webhook-delivery:{delivery.pk}",
        label=f"webhook {delivery.event.type} {delivery.event.public_id} to {delivery.endpoint.url}",
        customer_id=delivery.event.customer_id,
    )
