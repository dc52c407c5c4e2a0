from django.db import models
from django.db.models import Q

from balances.models import Account, EntryKind, LedgerEntry
from core.fields import MoneyField
from core.money import format_money
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
    # A hard decline (the processor's code for a lost, stolen or expired
    # card, or do_not_honor twice in a cycle) stops the night's card retries
    # up to and including this date (the cycle's last paid-thru date); the
    # card being updated or paid with again by its holder clears it.
    retry_blocked_until = models.DateField(null=True, blank=True)
    blocked_code = models.CharField(max_length=40, blank=True, default="", db_default="")
    # When the processor last told us of a change (payment_method.updated,
    # payment_method.automatically_updated).
    updated_at = models.DateTimeField(null=True, blank=True)

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


# Not settled yet: a charge in flight, or one whose answer never came.
OPEN = (AttemptState.PENDING, AttemptState.UNKNOWN)


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
    # The processor's decline code of a failed charge (e.g. do_not_honor,
    # lost_card, expired_card), or "".
    decline_code = models.CharField(max_length=40, blank=True, default="", db_default="")
    # Charged with the customer away (the nightly sweep's): Stripe is told
    # so, and the PaymentIntent is created and confirmed in one request.
    # What the payment is for (a renewal's hold, claimed orders and batch)
    # is kept by the app that asked for it, keyed by this row
    # (renewals.RenewalPayment); settling it calls that app's handler for
    # ``purpose`` (payments.settlement).
    off_session = models.BooleanField(default=False)
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
        permissions = [
            ("decide_paymentattempt", "Can settle a payment attempt as paid or failed"),
            # Sends money back to the card (payments.refunds.payment_refund).
            ("refund_paymentattempt", "Can refund a card payment"),
        ]

    def __str__(self) -> str:
        intent = f", {self.stripe_payment_intent_id}" if self.stripe_payment_intent_id else ""
        return f"attempt {self.pk}: {self.purpose} {format_money(self.amount, self.currency)} {self.state}{intent}"


class MovementKind(models.TextChoices):
    """What the card processor did to a payment after it was made; each is
    posted as the ledger entry kind of the same name."""

    REFUND = EntryKind.REFUND.value, "Refund"
    DISPUTE = EntryKind.DISPUTE.value, "Dispute (funds withdrawn)"
    DISPUTE_REVERSAL = EntryKind.DISPUTE_REVERSAL.value, "Dispute won (funds reinstated)"


class MovementOrigin(models.TextChoices):
    PROCESSOR = "processor", "At the processor (webhook)"
    ADMIN = "admin", "By an admin, from the portal"


class ProcessorMovement(models.Model):
    """Money the card processor moved on one of our card payments after it
    was made: a refund, a dispute's withdrawal, its reinstatement (SPEC
    "Money"). One row per processor object and kind, posted to the ledger
    once, and mailed to the operators once (``alerted_at``).

    An admin's refund is this row too, written (state ``pending``, the amount
    held on the account) before Stripe is asked, so its idempotency key
    exists first and its webhook finds it (the refund's metadata names it).
    """

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="processor_movements")
    attempt = models.ForeignKey(PaymentAttempt, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(max_length=16, choices=MovementKind.choices)
    origin = models.CharField(max_length=16, choices=MovementOrigin.choices, default=MovementOrigin.PROCESSOR)
    # The processor's object: re_... for a refund, dp_... for a dispute. Blank
    # only while an admin's refund waits for Stripe's answer.
    processor_id = models.CharField(max_length=100, blank=True)
    amount = MoneyField()  # positive: the ledger entry carries the sign
    currency = models.CharField(max_length=3)
    state = models.CharField(max_length=16, choices=AttemptState.choices, default=AttemptState.SUCCEEDED)
    reason = models.TextField(blank=True)
    error = models.TextField(blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    event_id = models.CharField(max_length=100, blank=True, help_text="The webhook event that reported it.")
    entry = models.OneToOneField(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="processor_movement"
    )
    business_date = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    # Claimed when mailed to the operators (payments.refunds.movements_alert).
    alerted_at = models.DateTimeField(null=True, blank=True)

    tenant_customer_lookup = "account__customer__"
    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "processor_id"], condition=~Q(processor_id=""), name="movement_processor_object_once"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="movement_amount_positive"),
        ]
        indexes = [models.Index(fields=["alerted_at"], name="movement_alerted_idx")]

    def __str__(self) -> str:
        what = self.processor_id or f"refund {self.pk}"
        return f"{self.get_kind_display()} {format_money(self.amount, self.currency)} ({what}, {self.state})"

    @property
    def idempotency_key(self) -> str:
        """Stripe's key for an admin's refund: from this row, written first."""
        return f"refund-{self.pk}"


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
