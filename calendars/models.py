"""Private iCal feeds of what renews when: one revocable secret per customer
and per reseller (its subtree)."""

from django.db import models
from django.db.models import Q

from tenants.models import Customer, Reseller


class Feed(models.Model):
    """A calendar feed's credential: whoever holds the URL (its ``secret``)
    reads the owner's renewal calendar, without signing in, which is what a
    calendar app can do. Replacing the secret (calendars.services.feed_rotate)
    revokes every copy of the old URL.

    Kept in clear, not as a digest: the owner's panel and ``GET
    /api/calendar/`` show the URL again whenever asked (a calendar app needs
    the whole URL; a fingerprint would force a new secret on every look).
    """

    # Exactly one owner (the constraint below): a customer's feed lists its
    # own orders, a reseller's its whole subtree's.
    customer = models.OneToOneField(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    reseller = models.OneToOneField(
        Reseller, null=True, blank=True, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    # secrets.token_urlsafe(32): 43 characters of [A-Za-z0-9_-]. Unique: the
    # feed is found by it through its index, one row or none.
    secret = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True, help_text="When the secret was last replaced.")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(customer__isnull=False, reseller__isnull=True)
                | Q(customer__isnull=True, reseller__isnull=False),
                name="calendar_feed_one_owner",
            ),
            models.CheckConstraint(condition=~Q(secret=""), name="calendar_feed_secret_not_empty"),
        ]

    def __str__(self) -> str:
        owner = f"customer {self.customer_id}" if self.customer_id else f"reseller {self.reseller_id}"
        return f"calendar of {owner}"
