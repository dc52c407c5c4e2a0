from django.db import models
from django.db.models import Q

from core.fields import MoneyField
from orders.models import Order
from tenants.models import Customer, Reseller
from tenants.scope import TenantQuerySet


class InvoiceSequence(models.Model):
    """The last invoice number a reseller issued. Locked and bumped in the
    invoice's own transaction, so a rolled-back payment never burns a number."""

    reseller = models.OneToOneField(Reseller, primary_key=True, on_delete=models.PROTECT, related_name="+")
    last_number = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.reseller}: {self.last_number}"


class RenewalSource(models.TextChoices):
    AUTOMATIC = "automatic", "Automatic (nightly sweep)"
    MANUAL = "manual", "Manual"
    # An admin's extension at no charge (renewals.operator.order_extend).
    COMPLIMENTARY = "complimentary", "Complimentary (admin extension)"


class Invoice(models.Model):
    number = models.CharField(max_length=40)
    # The seller: numbering is gapless per reseller.
    # Indexed by the unique (reseller, sequence) below.
    reseller = models.ForeignKey(Reseller, on_delete=models.PROTECT, related_name="invoices", db_index=False)
    # Set with the number, at the end of the paying transaction.
    sequence = models.PositiveBigIntegerField(null=True)
    # Indexed by (customer, business_date) below.
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices", db_index=False)
    currency = models.CharField(max_length=3)
    total = MoneyField()
    business_date = models.DateField()
    issued_at = models.DateTimeField(auto_now_add=True)
    # The ledger entry (or card payment) that paid it.
    payment_reference = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=16, choices=RenewalSource.choices)
    created_by = models.CharField(max_length=150)

    tenant_customer_lookup = "customer__"
    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-business_date", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["number"], name="invoice_number_unique"),
            models.UniqueConstraint(fields=["reseller", "sequence"], name="invoice_sequence_unique_per_reseller"),
            models.CheckConstraint(condition=Q(total__gte=0), name="invoice_total_not_negative"),
            models.CheckConstraint(
                condition=~Q(source=RenewalSource.COMPLIMENTARY) | Q(total=0), name="invoice_complimentary_is_free"
            ),
        ]
        indexes = [models.Index(fields=["customer", "business_date"], name="invoice_customer_date_idx")]

    def __str__(self) -> str:
        return self.number


class InvoiceLine(models.Model):
    """One order's renewal on a paid invoice: the record of the extension.

    ``period_start`` is the cycle renewed (the paid-thru date it extends), so
    the unique (order, period_start) makes a second renewal of one order and
    cycle impossible, whoever attempts it: the sweep, a manual renewal, a
    second worker."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    # Indexed by the unique (order, period_start) below.
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="invoice_lines", db_index=False)
    description = models.CharField(max_length=300)
    period_start = models.DateField()
    period_end = models.DateField()
    months = models.PositiveIntegerField()
    amount = MoneyField()
    # An admin's extension at no charge: recorded like a renewal of its cycle,
    # so that the cycle stays unique (SPEC "Orders"). The database default
    # makes a line written without it (raw SQL, a migration) a paid one.
    complimentary = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["invoice", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="invoice_line_amount_not_negative"),
            models.CheckConstraint(condition=Q(period_end__gt=models.F("period_start")), name="invoice_line_period"),
            models.UniqueConstraint(fields=["order", "period_start"], name="renewal_once_per_order_and_cycle"),
            models.CheckConstraint(
                condition=Q(complimentary=False) | Q(amount=0), name="invoice_line_complimentary_is_free"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invoice.number}: {self.order.ref} {self.period_start}..{self.period_end}"
