from django.conf import settings
from django.db import models

from core.request_context import current_address


class AuditEvent(models.Model):
    """One change: who, when, what, before and after. Append-only (on
    PostgreSQL a trigger refuses UPDATE and DELETE)."""

    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    business_date = models.DateField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        # Append-only rows are never updated, not even when a user is deleted:
        # the name stays in actor_label.
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    # "system" for the nightly run, "import" for import_portal, else a username.
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_id = models.BigIntegerField(null=True, blank=True)
    target_ref = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    # The client's address of the request that made the change (core.net:
    # the trusted proxies decide), None for the nightly run and commands. A
    # default rather than an argument so that every row built during a
    # request has it, whichever module builds it; raw inserts
    # (renewals.writer) pass current_address() themselves.
    address = models.GenericIPAddressField(null=True, blank=True, default=current_address)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target_idx")]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target_ref}"
