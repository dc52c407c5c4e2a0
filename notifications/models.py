from django.db import models

from tenants.models import Customer, Reseller
from tenants.scope import TenantQuerySet


class NoticeKind(models.TextChoices):
    ADVANCE_NOTICE = "advance_notice", "Advance notice"
    RENEWAL_SUCCEEDED = "renewal_succeeded", "Renewal succeeded"
    RENEWAL_COMPLETED = "renewal_completed", "Renewal completed"
    RENEWAL_FAILED = "renewal_failed", "Renewal failed"
    RENEWAL_LAST_CHANCE = "renewal_last_chance", "Renewal failed: last chance"
    RENEWAL_REMINDER = "renewal_reminder", "Renewal reminder"
    SUSPENDED = "suspended", "Suspended"
    TERMINATION_WARNING = "termination_warning", "Termination warning"
    TERMINATED = "terminated", "Terminated"
    RESELLER_FAILURE = "reseller_failure", "Customer renewal failed (to reseller)"
    # A card charge whose renewal could not be written: the amount is on the balance.
    PAYMENT_CREDITED = "payment_credited", "Card payment credited to the balance"
    # A saved card expires before an auto-renewal it would pay (30 days ahead).
    CARD_EXPIRING = "card_expiring", "Card expires before a renewal"
    # A hard decline stopped the card's retries for the cycle: update the card.
    CARD_UPDATE_NEEDED = "card_update_needed", "Card declined for good: update it"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (will retry)"
    # No email address: the notice is a message in the panel only.
    PANEL_ONLY = "panel_only", "Panel only (no email address)"


class Notice(models.Model):
    """A notice: the outbox row that mails it and the message the recipient
    reads in the panel. Written in the same transaction as its cause; at most
    one per (kind, subject, cycle, recipient)."""

    kind = models.CharField(max_length=32, choices=NoticeKind.choices)
    # An outbox row per event, written in bulk by the nightly run: its
    # references are checked by the code that writes them (in the same
    # transaction as what they name), not by per-row foreign-key triggers.
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="notices", db_constraint=False)
    # The sender whose name the mail carries (white label).
    reseller = models.ForeignKey(
        Reseller, on_delete=models.PROTECT, related_name="notices", db_index=False, db_constraint=False
    )
    recipient = models.EmailField()
    # What the notice is about, e.g. "order:17" or "batch:42": with kind, cycle
    # and recipient it makes a second notice impossible.
    subject_key = models.CharField(max_length=100)
    # The cycle (paid-thru date renewed) as YYYY-MM-DD, or "" for none.
    cycle = models.CharField(max_length=10, blank=True, default="")
    # The orders it is about, by ref (the export lists them; the body shows them).
    order_refs = models.JSONField(default=list, blank=True)
    # The facts its cause snapshotted, which the templates render (content.py).
    data = models.JSONField(default=dict, blank=True)
    business_date = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    # What was sent (or shown in the panel): rendered once, on first delivery.
    subject = models.CharField(max_length=300, blank=True, default="", db_default="")
    body_text = models.TextField(blank=True, default="", db_default="")
    body_html = models.TextField(blank=True, default="", db_default="")
    state = models.CharField(
        max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING, db_default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0, db_default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="", db_default="")
    read_at = models.DateTimeField(null=True, blank=True)

    tenant_customer_lookup = "customer__"
    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-business_date", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject_key", "cycle", "recipient"], name="notice_once_per_kind_subject_cycle"
            ),
            models.CheckConstraint(condition=models.Q(kind__in=NoticeKind.values), name="notice_kind_valid"),
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="notice_outbox_idx")]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient} ({self.business_date})"

    def rendered(self, *, invoices: dict | None = None):
        """What the notice says: as sent once it was delivered, else rendered
        now (``invoices``: preloaded by ``content.render_many`` for a page)."""
        from notifications.content import Rendered, render

        if self.subject:
            return Rendered(self.subject, self.body_text, self.body_html)
        return render(self, invoices=invoices)
