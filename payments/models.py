from django.db import models
from django.db.models import Q

from balances.models import Account
from core.money import MoneyField, format_money
from tenants.scope import TenantQuerySet


class Card(models.Model):
    """A card saved at Stripe. Locally only what a customer needs to recognise
    it and the Stripe ids: never a card number."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="cards")
    stripe_payment_method_id = models.CharField(max_length=100)
    brand = models.CharField(max_length=30, blank=True)
    last4 = models.CharField(max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    tenant_customer_lookup = "account__customer__"
    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["account", "-is_default", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["stripe_payment_method_id"], name="card_payment_method_unique"),
            models.UniqueConstraint(fields=["account"], condition=Q(is_default=True), name="card_one_default"),
        ]

    def __str__(self) -> str:
        return f"{self.brand or 'card'} •••• {self.last4 or '????'}"


class AttemptState(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Unknown (to be reconciled)"


class AttemptPurpose(models.TextChoices):
    TOP_UP = "top_up", "Balance top-up"
    RENEWAL = "renewal", "Renewal"


class PaymentAttempt(models.Model):
    """One card charge, from before the call to Stripe until it is settled.

    The idempotency key and this row exist before the network call; the
    PaymentIntent id is stored before it is confirmed. So whatever happens
    (a timeout, a crash, a retry), the charge is found again by its id and
    never made a second time under a new key.
    """

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="payment_attempts")
    card = models.ForeignKey(Card, null=True, blank=True, on_delete=models.SET_NULL, related_name="attempts")
    purpose = models.CharField(max_length=16, choices=AttemptPurpose.choices)
    amount = MoneyField()
    currency = models.CharField(max_length=3)
    state = models.CharField(max_length=16, choices=AttemptState.choices, default=AttemptState.PENDING)
    idempotency_key = models.CharField(max_length=100)
    stripe_payment_intent_id = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    # A renewal batch paid (partly) by this charge: the balance part held on
    # the account, the orders claimed with the periods priced, the batch.
    hold = MoneyField(default=0)
    claim = models.JSONField(default=list, blank=True)
    batch = models.OneToOneField(
        "renewals.BatchAttempt", null=True, blank=True, on_delete=models.PROTECT, related_name="payment"
    )
    business_date = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    tenant_customer_lookup = "account__customer__"
    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="payment_attempt_key_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_attempt_amount_positive"),
        ]
        indexes = [models.Index(fields=["state"], name="payment_attempt_state_idx")]
        # An operator's decision on an attempt reconciliation could not settle
        # (payments.charges.payment_attempt_decide): moves money, so it is a
        # permission of its own, not "change".
        permissions = [("decide_paymentattempt", "Can settle a payment attempt as paid or failed")]

    def __str__(self) -> str:
        intent = f", {self.stripe_payment_intent_id}" if self.stripe_payment_intent_id else ""
        return f"attempt {self.pk}: {self.purpose} {format_money(self.amount, self.currency)} {self.state}{intent}"


class WebhookEvent(models.Model):
    """A Stripe event received: the unique id makes a second delivery (a retry,
    or two at once) a no-op."""

    event_id = models.CharField(max_length=100)
    type = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [models.UniqueConstraint(fields=["event_id"], name="webhook_event_once")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
