"""The keys of paying requests and what each was answered."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class IdempotencyState(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    # The request ended in an unexpected error (a 500): the same request may be
    # sent again with the same key, and it re-uses the pins kept here.
    FAILED = "failed", "Failed, may be retried"


class IdempotencyKey(models.Model):
    """One key a login sent with a paying request (the API's
    ``Idempotency-Key``, the panel's form token), and what it was answered
    (once/idempotency.py). The unique (user, key) constraint is what decides
    between two requests racing with the same key."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of method, path and canonical JSON body")
    state = models.CharField(max_length=16, choices=IdempotencyState.choices, default=IdempotencyState.IN_PROGRESS)
    # Who holds the claim now (a fresh token per claim), so that a request that
    # lost its claim to a retry cannot overwrite the retry's answer.
    holder = models.CharField(max_length=32)
    claimed_at = models.DateTimeField(default=timezone.now)
    # The paid-thru dates the first attempt priced, {"<order id>": "YYYY-MM-DD"},
    # stored before paying: a retry pays the same cycles or nothing.
    pins = models.JSONField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # The answer as JSON text, not a JSONField: PostgreSQL's jsonb reorders
    # keys, and a replay should be byte for byte the first answer.
    response_body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The table the API app created, kept with its rows when the model
        # moved here (once 0001, api 0004: the state moved, not the data).
        db_table = "api_idempotencykey"
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_once_per_user"),
            models.CheckConstraint(
                condition=~Q(state=IdempotencyState.DONE) | Q(response_status__isnull=False),
                name="idempotency_key_done_has_response",
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_key_created_idx")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key} ({self.state})"
