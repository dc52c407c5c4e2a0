from django.db import models


class Stage(models.TextChoices):
    """Where in the platform's background work a fault happened."""

    SWEEP = "sweep", "Auto-renew sweep"
    CARD = "card", "Card path of the sweep"
    LIFECYCLE = "lifecycle", "Lifecycle (suspend, terminate)"
    SCHEDULE = "schedule", "Scheduled notices (advance, reminders, warnings)"
    HOOKS = "hooks", "Provisioning hooks"
    RECONCILIATION = "reconciliation", "Payment reconciliation"
    DELIVERY = "delivery", "Notice delivery"
    WEBHOOKS = "webhooks", "Webhook delivery (resellers' endpoints)"


class Fault(models.Model):
    """An unexpected error in one item of a background loop (an account's
    batch, an order's lifecycle move, a notice, a hook, a payment attempt):
    that item was rolled back and the loop went on (core.isolation).

    One row per stage, subject and business date however often it recurs, so
    the operators are mailed once per subject and date (``alerted_at``)."""

    stage = models.CharField(max_length=16, choices=Stage.choices)
    # What failed, as a stable key ("account:12", "order:40", "notice:7").
    subject = models.CharField(max_length=100)
    business_date = models.DateField()
    label = models.CharField(max_length=300, blank=True, help_text="The subject in words.")
    # The account it concerns, when there is one (no foreign key: core knows no tenants).
    customer_id = models.BigIntegerField(null=True, blank=True)
    orders = models.JSONField(default=list, blank=True, help_text="Refs of the orders it concerns.")
    # The nightly run it happened in (renewals.SweepRun), when it did.
    run_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    error = models.TextField()
    traceback = models.TextField(blank=True)
    occurrences = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    alerted_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-business_date", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["stage", "subject", "business_date"], name="fault_once_per_subject_and_date"
            )
        ]
        indexes = [
            models.Index(fields=["alerted_at"], name="fault_alerted_idx"),
            models.Index(fields=["resolved_at", "business_date"], name="fault_open_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.business_date} {self.stage} {self.label or self.subject}"
