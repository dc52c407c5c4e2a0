from django.db import models
from django.db.models import Q

from catalog.models import Plan
from core.fields import MoneyField
from orders.states import OrderStatus
from tenants.models import Customer
from tenants.scope import TenantQuerySet

# The order lists put terminated orders (history) after the live ones, whatever
# the sort: orders.selectors.orders_of sorts by this first, and
# order_listing_idx indexes it, so the two cannot drift apart.
ENDED_LAST = models.Case(models.When(status=OrderStatus.TERMINATED, then=models.Value(1)), default=models.Value(0))


class PaymentSource(models.TextChoices):
    BALANCE = "balance", "Account balance"
    CARD = "card", "Saved card"


class AfterRenewal(models.TextChoices):
    """What an individual price does after the renewal it priced (SPEC
    "Per-order settings"): kept for later renewals, or the plan's price."""

    KEEP = "keep", "Keep the individual price"
    PLAN = "plan", "Return to the plan's price"


class Order(models.Model):
    """A service a customer bought: a plan, a tenure and a paid-thru date."""

    # Unique by a constraint (not unique=True, whose extra LIKE index every
    # renewal's UPDATE would also have to maintain).
    ref = models.CharField(max_length=100)
    # Indexed by (customer, status) below.
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders", db_index=False)
    # Not indexed: every extension updates this table, and an index costs each
    # UPDATE; nothing hot looks orders up by plan.
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="orders", db_index=False)
    # The period last bought or renewed: auto-renewal buys it again.
    tenure_months = models.PositiveIntegerField()
    # Paid-thru date; null only for an endless plan.
    expires_on = models.DateField(null=True, blank=True)
    # The day of month renewals keep (Jan 31 + 1 month = Feb 28, + 1 = Mar 31).
    anchor_day = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default=OrderStatus.ACTIVE)
    auto_renew = models.BooleanField(default=False)
    # The reseller's lock: the customer can't change auto_renew.
    auto_renew_locked = models.BooleanField(default=False)
    payment_source = models.CharField(max_length=16, choices=PaymentSource.choices, default=PaymentSource.BALANCE)
    locked = models.BooleanField(default=False, help_text="Locked by the provider.")
    stopped = models.BooleanField(default=False, help_text="Stopped by the customer.")
    pending_action = models.BooleanField(default=False, help_text="E.g. an unpaid checkout or a transfer.")
    do_not_renew = models.BooleanField(default=False, help_text="Cancel at period end.")
    # The order's own auto-renew point: overrides its plan's lead_days (same
    # bound, checked by the services: shorter than the tenure at 28 days a month).
    lead_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # A reseller's deal: the price of the order's tenure for this order
    # (null: the plan's price); after_renewal says whether later renewals keep it.
    # (db_default: the set-based writers that COPY orders name their columns.)
    individual_price = MoneyField(null=True, blank=True)
    after_renewal = models.CharField(
        max_length=8, choices=AfterRenewal.choices, default=AfterRenewal.KEEP, db_default=AfterRenewal.KEEP
    )
    # The domain the service is for; an SSL renewal's CSR must name it.
    domain = models.CharField(max_length=253, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    tenant_customer_lookup = "customer__"
    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["expires_on", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["ref"], name="order_ref_unique"),
            models.CheckConstraint(condition=~Q(ref=""), name="order_ref_not_empty"),
            models.CheckConstraint(condition=Q(tenure_months__gte=1), name="order_tenure_positive"),
            models.CheckConstraint(
                condition=Q(anchor_day__isnull=True) | Q(anchor_day__gte=1, anchor_day__lte=31),
                name="order_anchor_day_1_31",
            ),
            models.CheckConstraint(condition=Q(status__in=OrderStatus.values), name="order_status_valid"),
            models.CheckConstraint(
                condition=Q(payment_source__in=PaymentSource.values), name="order_payment_source_valid"
            ),
            models.CheckConstraint(
                condition=Q(after_renewal__in=AfterRenewal.values), name="order_after_renewal_valid"
            ),
            models.CheckConstraint(
                condition=Q(individual_price__isnull=True) | Q(individual_price__gte=0),
                name="order_individual_price_not_negative",
            ),
            # An order with no paid-thru date is endless: it never runs out.
            models.CheckConstraint(
                condition=Q(expires_on__isnull=False) | Q(status=OrderStatus.ACTIVE),
                name="order_endless_stays_active",
            ),
        ]
        indexes = [
            # The nightly run's entry points: due windows and lifecycle by date.
            models.Index(fields=["status", "expires_on"], name="order_status_expires_idx"),
            models.Index(fields=["customer", "status"], name="order_customer_status_idx"),
            # The order lists' default sort (orders_of: live first, by paid-thru
            # date): a page is read off the index instead of sorting every
            # order of a reseller's subtree (or of a customer with thousands).
            # One more index for the sweep's extensions to update (they are
            # never HOT updates anyway: expires_on is indexed above).
            models.Index(ENDED_LAST, "expires_on", "id", name="order_listing_idx"),
            # The few orders with their own auto-renew point: the night's
            # distinct own leads (renewals.facts.Catalog.own_leads) are read
            # off this instead of the whole table.
            models.Index(fields=["lead_days"], condition=Q(lead_days__isnull=False), name="order_own_lead_idx"),
        ]

    def __str__(self) -> str:
        return self.ref
