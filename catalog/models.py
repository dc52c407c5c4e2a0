from django.db import models
from django.db.models import Q

from core.fields import MoneyField
from core.money import format_amount


def product_label(plan_name: str, months: int) -> str:
    """How an order's product reads on invoices and notices."""
    return f"{plan_name}, {months} month(s)"


class Category(models.Model):
    ref = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    # Days between suspension and termination (SPEC: hosting 15, VPS 7, domain 30).
    grace_days = models.PositiveIntegerField()
    # SSL certificates cannot auto-renew: they need a new CSR.
    auto_renew_supported = models.BooleanField(default=True)
    # Renewing by hand asks for a PEM certificate signing request (SSL).
    renewal_needs_csr = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"
        constraints = [models.CheckConstraint(condition=~Q(ref=""), name="category_ref_not_empty")]

    def __str__(self) -> str:
        return self.name


class Plan(models.Model):
    ref = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="plans")
    currency = models.CharField(max_length=3, default="USD")
    endless = models.BooleanField(default=False)
    auto_renew_allowed = models.BooleanField(default=True)
    # Overrides the 7/30-day attempt window; must be shorter than the shortest
    # tenure counted at 28 days a month (checked by the services).
    lead_days = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=~Q(ref=""), name="plan_ref_not_empty")]

    def __str__(self) -> str:
        return self.name


class PlanPrice(models.Model):
    """The price of one tenure (1, 3, 12 ... months) of a plan."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="prices")
    months = models.PositiveIntegerField()
    amount = MoneyField()

    class Meta:
        ordering = ["plan", "months"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "months"], name="plan_price_unique_tenure"),
            models.CheckConstraint(condition=Q(months__gte=1), name="plan_price_months_positive"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="plan_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.plan.ref} {self.months} mo: {format_amount(self.amount, self.plan.currency)}"
