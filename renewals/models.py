"""Records of the renewal engine.

- The renewal record itself is the paid invoice line (invoices.InvoiceLine):
  at most one per order and cycle (the paid-thru date renewed), whoever made
  it; the database refuses a second.
- ``SweepRun``: one run of the nightly work for a business date.
- ``BatchAttempt``: one per account and business date, with its outcome.
- ``RenewalPayment``: what a card payment for a renewal claims and holds.
- ``OrderOutcome``: what happened to each due order on a business date.
- ``LifecycleEvent``: suspension, unsuspension and termination, once per order
  and cycle, with the state of its provisioning hook (and the reissue of a
  certificate renewed with a CSR).
- ``OpenRenewal``: a renewal waiting for payment, once per order and cycle,
  from the night its window opens until it is paid, closed or cancelled.
- ``RenewalCsr``: the certificate signing request a renewal was made with.
"""

from django.db import models
from django.db.models import Q

from core.fields import MoneyField
from invoices.models import Invoice
from orders.models import Order
from renewals.rules import Reason
from tenants.models import Customer
from tenants.scope import TenantQuerySet


class RunOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class SweepRun(models.Model):
    business_date = models.DateField(db_index=True)
    dry_run = models.BooleanField(default=False)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=RunOutcome.choices, default=RunOutcome.RUNNING)
    triggered_by = models.CharField(max_length=150, default="system")
    accounts = models.PositiveIntegerField(default=0)
    batches_renewed = models.PositiveIntegerField(default=0)
    batches_failed = models.PositiveIntegerField(default=0)
    batches_pending = models.PositiveIntegerField(default=0)
    orders_renewed = models.PositiveIntegerField(default=0)
    orders_skipped = models.PositiveIntegerField(default=0)
    suspended = models.PositiveIntegerField(default=0)
    terminated = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-business_date", "-pk"]
        indexes = [models.Index(fields=["dry_run", "outcome", "business_date"], name="sweeprun_last_completed_idx")]

    def __str__(self) -> str:
        return f"{'dry-run ' if self.dry_run else ''}{self.business_date} {self.outcome}"


class SweepBatch(models.Model):
    """A batch of accounts a run handed to a Celery worker; done when
    ``finished_at`` is set. Lets the run wait on the database, not the broker."""

    run = models.ForeignKey(SweepRun, on_delete=models.CASCADE, related_name="batches")
    number = models.PositiveIntegerField()
    customer_ids = models.JSONField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "number"]
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="sweep_batch_unique")]

    def __str__(self) -> str:
        return f"{self.run} batch {self.number}"


class BatchOutcome(models.TextChoices):
    RENEWED = "renewed", "Renewed"
    FAILED = "failed", "Failed"
    PENDING = "pending", "Pending"
    # No batch: every due order of the account was skipped. Recorded so that
    # the account counts as attempted on that date.
    SKIPPED = "skipped", "Nothing to renew (all skipped)"


class BatchAttempt(models.Model):
    """One account's batch on one business date: all its due orders, one total,
    one payment, all or nothing."""

    # Indexed by the unique (customer, business_date) below.
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="batch_attempts", db_index=False)
    business_date = models.DateField()
    run = models.ForeignKey(
        SweepRun, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="attempts", db_constraint=False
    )
    outcome = models.CharField(max_length=16, choices=BatchOutcome.choices)
    reason = models.CharField(max_length=32, choices=Reason.choices, blank=True)
    total = MoneyField()
    currency = models.CharField(max_length=3)
    invoice = models.OneToOneField(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="attempt")
    created_at = models.DateTimeField(auto_now_add=True)

    tenant_customer_lookup = "customer__"
    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-business_date", "customer_id"]
        constraints = [
            # One attempt per account and business date: a re-run, a second
            # worker or a redelivered task finds it and does nothing.
            models.UniqueConstraint(fields=["customer", "business_date"], name="attempt_once_per_account_and_date"),
        ]
        indexes = [models.Index(fields=["business_date", "outcome"], name="attempt_date_outcome_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.business_date} {self.outcome}"


class RenewalPayment(models.Model):
    """What a card payment for a renewal is for (payments keeps the charge,
    renewals what it pays): the orders it claims, with the periods priced,
    which no one else may renew or move until it is settled; the balance
    part held on the account meanwhile; the sweep's batch it pays (none for
    a manual renewal). Settled by renewals.settlement, registered for the
    ``renewal`` purpose (renewals.apps)."""

    attempt = models.OneToOneField(
        "payments.PaymentAttempt", primary_key=True, on_delete=models.PROTECT, related_name="renewal"
    )
    hold = MoneyField(default=0)
    claim = models.JSONField(default=list, blank=True)
    batch = models.OneToOneField(
        BatchAttempt, null=True, blank=True, on_delete=models.PROTECT, related_name="card_payment"
    )

    def __str__(self) -> str:
        return f"renewal payment {self.attempt_id}: {len(self.claim)} orders"


class OrderOutcome(models.Model):
    """A due order on a business date that was not renewed: failed or pending
    with its batch, or skipped with its reason. (A renewed order's record is
    its invoice line.)"""

    # A log row, one per due order and night: the heaviest table of the sweep,
    # so its references are checked by the code that writes it (in the same
    # transaction as the rows it names), not by per-row foreign-key triggers.
    # Indexed by the unique (order, business_date) below.
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="outcomes", db_index=False, db_constraint=False
    )
    business_date = models.DateField()
    cycle = models.DateField(null=True, blank=True)
    attempt = models.ForeignKey(
        BatchAttempt,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lines",
        db_index=False,
        db_constraint=False,
    )
    run = models.ForeignKey(
        SweepRun, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="order_outcomes", db_constraint=False
    )
    outcome = models.CharField(max_length=16)
    reason = models.CharField(max_length=32, choices=Reason.choices, blank=True)
    amount = MoneyField(null=True, blank=True)
    expires_on = models.DateField(null=True, blank=True, help_text="Paid-thru date after the run.")

    class Meta:
        ordering = ["business_date", "order_id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "business_date"], name="outcome_once_per_order_and_date")
        ]
        indexes = [
            # The orders held back by an internal error (renewals.held): few
            # rows, found without reading the table.
            models.Index(
                fields=["order", "business_date"],
                condition=Q(reason="internal_error"),
                name="outcome_internal_error_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.business_date} {self.outcome}"


class Transition(models.TextChoices):
    SUSPEND = "suspend", "Suspended"
    UNSUSPEND = "unsuspend", "Unsuspended (renewed during grace)"
    TERMINATE = "terminate", "Terminated"
    # An SSL order renewed with a CSR: the hook reissues the certificate.
    REISSUE = "reissue", "Certificate reissued (renewed with a CSR)"


class HookState(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed (will retry)"


class EventOrigin(models.TextChoices):
    NIGHTLY = "nightly", "Nightly lifecycle"
    RENEWAL = "renewal", "Renewal during grace"
    ADMIN = "admin", "Admin action"


class LifecycleEvent(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="lifecycle_events")
    transition = models.CharField(max_length=16, choices=Transition.choices)
    origin = models.CharField(max_length=16, choices=EventOrigin.choices, default=EventOrigin.NIGHTLY)
    # The paid-thru date of the cycle the transition belongs to.
    cycle = models.DateField()
    business_date = models.DateField()
    run = models.ForeignKey(SweepRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="transitions")
    created_at = models.DateTimeField(auto_now_add=True)
    hook_state = models.CharField(max_length=16, choices=HookState.choices, default=HookState.PENDING)
    hook_attempts = models.PositiveIntegerField(default=0)
    hook_error = models.TextField(blank=True)
    hook_done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-business_date", "-pk"]
        constraints = [
            # The nightly lifecycle and renewals move an order once per cycle;
            # an admin's moves are events of their own (an admin may suspend
            # and restore an order within a cycle the night later suspends).
            models.UniqueConstraint(
                fields=["order", "transition", "cycle"],
                condition=~Q(origin="admin"),
                name="lifecycle_once_per_cycle",
            ),
        ]
        indexes = [models.Index(fields=["hook_state"], name="lifecycle_hook_state_idx")]

    def __str__(self) -> str:
        return f"{self.order_id} {self.transition} ({self.cycle})"


class Lease(models.Model):
    """A named lease (the nightly run): taken by a conditional UPDATE, so a
    second beat or a redelivered task finds it held and stands down."""

    name = models.CharField(max_length=50, primary_key=True)
    holder = models.CharField(max_length=100, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name}: {self.holder or 'free'}"


class OpenRenewalStatus(models.TextChoices):
    OPEN = "open", "Waiting for payment"
    CLOSED = "closed", "Renewed"
    CANCELLED = "cancelled", "Cancelled"


class OpenRenewal(models.Model):
    """A renewal waiting for payment (SPEC "Open renewals"): created the night
    an order's window opens, whatever its switch, with the period and price
    the quote path gives and the date it must be paid by (the paid-thru
    date). Closed when the order is renewed for that cycle (any way),
    cancelled at termination or do-not-renew. A durable view of a due order,
    not a second pricing engine."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="open_renewals", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="open_renewals", db_index=False)
    # The paid-thru date the renewal renews (the order's cycle).
    cycle = models.DateField()
    months = models.PositiveIntegerField()
    amount = MoneyField()
    currency = models.CharField(max_length=3)
    pay_by = models.DateField()
    status = models.CharField(max_length=16, choices=OpenRenewalStatus.choices, default=OpenRenewalStatus.OPEN)
    created_on = models.DateField(help_text="Business date it was opened.")
    closed_on = models.DateField(null=True, blank=True)
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="open_renewals", db_index=False
    )

    tenant_customer_lookup = "customer__"
    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["pay_by", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["order", "cycle"], name="open_renewal_once_per_cycle"),
            models.CheckConstraint(condition=Q(status__in=OpenRenewalStatus.values), name="open_renewal_status_valid"),
        ]
        indexes = [
            # A customer's open renewals (the renewal center, the API).
            models.Index(fields=["customer", "pay_by"], condition=Q(status="open"), name="open_renewal_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.cycle} {self.status}"


class RenewalCsr(models.Model):
    """The PEM certificate signing request an SSL order was renewed with
    (SPEC "SSL renewals need a CSR"), for the cycle renewed; the reissue
    hook hands it to the certificate authority."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="renewal_csrs", db_index=False)
    cycle = models.DateField()
    pem = models.TextField()
    common_name = models.CharField(max_length=253, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "cycle"]
        constraints = [models.UniqueConstraint(fields=["order", "cycle"], name="renewal_csr_once_per_cycle")]

    def __str__(self) -> str:
        return f"CSR {self.common_name} for {self.order_id} ({self.cycle})"
