from django.conf import settings
from django.db import models
from django.db.models import Q

from tenants.scope import Actor, ActorKind, TenantQuerySet


class ResellerQuerySet(models.QuerySet):
    def visible_to(self, actor: Actor) -> "ResellerQuerySet":
        """A reseller sees itself and its sub-resellers; customers see none."""
        if actor.sees_everything:
            return self.all()
        if actor.kind == ActorKind.RESELLER and actor.reseller_path:
            return self.filter(path__startswith=actor.reseller_path)
        return self.none()


class Reseller(models.Model):
    ref = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    # Off: no customer below this reseller (sub-resellers' included) auto-renews.
    allow_auto_renew = models.BooleanField(default=True)
    # Invoice numbers read PREFIX-YYYY-NNNNNN.
    invoice_prefix = models.CharField(max_length=12, unique=True)
    # Materialised path of primary keys from the root, e.g. "/1/7/": a subtree
    # is one indexed prefix match instead of a recursive query.
    path = models.CharField(max_length=500, db_index=True, editable=False, default="")
    # Dunning (SPEC "Beyond the peers"): the nights a failed auto-renewal is
    # tried again inside its attempt window. Without a policy of its own
    # (``retry_own`` off) a reseller inherits the one above it, and a
    # top-level one the platform's (settings.RENEWAL_RETRY_DAYS).
    retry_own = models.BooleanField(
        default=False, db_default=False, help_text="Sets its own retry policy (else inherits)."
    )
    # Its own policy: None, every night of the window; else the days before
    # expiry to try on, e.g. [7, 3, 1, 0] (the window's first night always).
    retry_days = models.JSONField(null=True, blank=True, default=None)
    # Its own policy: the night (days before expiry) whose failure sends
    # ``renewal_last_chance``; always a night the order is tried on.
    last_chance_day = models.PositiveSmallIntegerField(default=0, db_default=0)

    objects = ResellerQuerySet.as_manager()

    class Meta:
        ordering = ["path"]
        constraints = [
            models.CheckConstraint(condition=~Q(ref=""), name="reseller_ref_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2


class Customer(models.Model):
    ref = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    reseller = models.ForeignKey(Reseller, on_delete=models.PROTECT, related_name="customers")
    # The reseller's permission for this one customer (SPEC: allow_auto_renew).
    allow_auto_renew = models.BooleanField(default=True)
    # Set when this account is a reseller's own (SPEC "Resellers are customers
    # too"): the reseller buys from ``reseller``, the one above it; its staff
    # renew these orders under "Our orders".
    owner_reseller = models.OneToOneField(
        Reseller, null=True, blank=True, on_delete=models.PROTECT, related_name="own_account"
    )
    # Exempt from its reseller's retry policy (dunning): a failed
    # auto-renewal is tried again every night of its window.
    retry_exempt = models.BooleanField(default=False, db_default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    tenant_customer_lookup = ""
    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(ref=""), name="customer_ref_not_empty"),
            # A reseller's own account is held with another seller (the one above it).
            models.CheckConstraint(
                condition=Q(owner_reseller__isnull=True) | ~Q(owner_reseller=models.F("reseller")),
                name="customer_own_account_bought_above",
            ),
        ]
        # The reseller's customers page in its order: a page is read off the
        # index (25 rows) instead of sorting the whole subtree.
        indexes = [models.Index(fields=["name", "id"], name="customer_name_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.ref})"


class Membership(models.Model):
    """Links a login to exactly one tenant: a customer, or a reseller's staff.

    Platform admins are superusers (or staff) without a membership.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="members")
    reseller = models.ForeignKey(Reseller, null=True, blank=True, on_delete=models.CASCADE, related_name="staff")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(customer__isnull=False) & Q(reseller__isnull=True))
                | (Q(customer__isnull=True) & Q(reseller__isnull=False)),
                name="membership_exactly_one_tenant",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} -> {self.customer or self.reseller}"
