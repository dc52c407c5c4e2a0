"""Outbound webhooks: a reseller's endpoints, the events written to an outbox
in the same transaction as their cause, and their signed deliveries."""

import json

from django.db import models
from django.db.models import Q

from tenants.models import Customer, Reseller


class EventType(models.TextChoices):
    """SPEC "Beyond the peers": the events a reseller may subscribe to."""

    ORDER_RENEWED = "order.renewed", "An order was renewed"
    RENEWAL_FAILED = "renewal.failed", "A customer's renewal failed"
    ORDER_SUSPENDED = "order.suspended", "An order was suspended"
    ORDER_RESTORED = "order.restored", "A suspended order was restored"
    ORDER_TERMINATED = "order.terminated", "An order was terminated"
    INVOICE_CREATED = "invoice.created", "An invoice was created"
    BALANCE_LOW = "balance.low", "A balance will not cover the next renewal"


# Why the worker disables an endpoint (docs/webhooks.md); its page shows a banner.
FAILING_REASON = "every delivery failed for 3 days"


class Endpoint(models.Model):
    """Where a reseller wants its events POSTed. It receives the events of its
    customers and of its sub-resellers' customers (its subtree)."""

    reseller = models.ForeignKey(Reseller, on_delete=models.CASCADE, related_name="webhook_endpoints")
    # Checked by webhooks.services.url_checked (https, a public host), not a form field's rules.
    url = models.CharField(max_length=500)
    # Event types (EventType values) this endpoint receives.
    events = models.JSONField(default=list)
    # HMAC-SHA256 key of the Portal-Signature header: shown to its reseller
    # (at creation, and on demand), never to anyone else.
    secret = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    # The first failure since its last success: 3 days of that disable it.
    failing_since = models.DateTimeField(null=True, blank=True)
    # When the reseller was mailed that it was disabled (once per disabling).
    disabled_told_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["reseller", "id"], name="webhook_endpoint_reseller_idx")]

    def __str__(self) -> str:
        return self.url


class Event(models.Model):
    """An outbox row: written in its cause's transaction, never changed."""

    # The receiver's dedupe key: the same on every delivery and redelivery.
    public_id = models.CharField(max_length=40, unique=True)
    type = models.CharField(max_length=32, choices=EventType.choices)
    # What the event is about, unique per type ("order:12:2026-12-10"): a
    # cause that is written twice (a settlement repeated) emits it once.
    key = models.CharField(max_length=120)
    # The customer's reseller (the endpoints of it and of those above it receive it).
    # Copies of the cause's (the outbox is a log): not indexed by reseller
    # (nothing reads events by it), and no database foreign key, whose check
    # at commit cost the night ~50 microseconds an event, every event of a
    # batch taking a share lock on the same reseller row. Django still
    # cascades a deletion; resellers and customers are never deleted while
    # they have orders (PROTECT).
    reseller = models.ForeignKey(
        Reseller, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    # The event's ``data`` as the JSON text its deliveries send: text, not
    # jsonb, since nothing queries inside it and PostgreSQL parses jsonb on
    # the way in (half the cost of the night's COPY of the events).
    data_json = models.TextField(default="{}")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-pk"]
        constraints = [models.UniqueConstraint(fields=["type", "key"], name="webhook_event_once_per_type_and_key")]

    def __str__(self) -> str:
        return f"{self.type} {self.public_id}"

    @property
    def data(self) -> dict:
        return json.loads(self.data_json)


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (will retry)"
    # Tried for more than MAX_ATTEMPTS: only a redelivery sends it again.
    DEAD = "dead", "Given up (redeliver to retry)"


DUE_STATES = (DeliveryState.PENDING, DeliveryState.FAILED)


class Delivery(models.Model):
    """One event to one endpoint, at least once."""

    # Their own indexes would repeat the leading columns of the unique
    # (event, endpoint) and of (endpoint, -id): one index less to write each.
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Due at (pending or failed); a claimed delivery's lease end.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True)  # the first RESPONSE_CHARS of the body
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="webhook_delivery_once_per_endpoint"),
        ]
        indexes = [
            # The worker's "due" query: only the rows still to send are indexed.
            models.Index(
                fields=["next_attempt_at", "id"],
                name="webhook_delivery_due_idx",
                condition=Q(state__in=["pending", "failed"]),
            ),
            # An endpoint's deliveries, newest first (the panel and the API).
            models.Index(fields=["endpoint", "-id"], name="webhook_delivery_endpoint_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.endpoint_id} ({self.state})"
