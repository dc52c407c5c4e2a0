from django.conf import settings
from django.db import models
from django.db.models import F, Q

from balances.rules import available_funds, owed
from core.fields import MoneyField
from core.money import format_money
from tenants.models import Customer
from tenants.scope import TenantQuerySet


class Account(models.Model):
    """A customer's money: one currency, a balance that is the sum of its
    ledger, and a credit limit it may go negative by (never further)."""

    customer = models.OneToOneField(Customer, primary_key=True, on_delete=models.PROTECT, related_name="account")
    currency = models.CharField(max_length=3, default="USD")
    credit_limit = MoneyField(default=0)
    # Cache of SUM(ledger.amount): moved only by balances.services.ledger_post
    # and ledger_post_many, under this row's lock, in the entry's transaction.
    balance = MoneyField(default=0, editable=False)
    # Reserved for card-paid renewal batches in flight (the balance part of
    # their total) and for refunds an admin is making at the processor: not
    # available to anything else until posted or released.
    held = MoneyField(default=0, editable=False)
    # How far the card processor's own movements (a refund, a dispute: kinds
    # PROCESSOR_KINDS) took the balance below what the credit limit allows
    # (SPEC "Money": recorded even then; the account owes). Raised only by
    # such an entry, lowered by every other one, moved only by the ledger's
    # services under this row's lock (balances.rules.overdrawn_after); the
    # two limits below allow exactly this much more, so every other debit
    # still meets them in the database.
    # (db_default: the set-based writers that COPY accounts name their columns.)
    overdrawn = MoneyField(default=0, db_default=0, editable=False)
    # The master auto-renew switch of the account.
    auto_renew = models.BooleanField(default=True)
    # The standing renewal day (SPEC "Standing renewal day"): the day of the
    # month manual renewals align to by default; null: no alignment.
    renewal_day = models.PositiveSmallIntegerField(null=True, blank=True)
    stripe_customer_id = models.CharField(max_length=100, blank=True)
    stripe_payment_method_id = models.CharField(max_length=100, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    tenant_customer_lookup = "customer__"
    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["customer_id"]
        constraints = [
            models.CheckConstraint(condition=Q(credit_limit__gte=0), name="account_credit_limit_not_negative"),
            # The last line of defence for "never below -credit_limit": only
            # what the processor took (overdrawn) may go further.
            models.CheckConstraint(
                condition=Q(balance__gte=-F("credit_limit") - F("overdrawn")),
                name="account_balance_within_credit_limit",
            ),
            models.CheckConstraint(condition=Q(held__gte=0), name="account_held_not_negative"),
            models.CheckConstraint(
                condition=Q(balance__gte=F("held") - F("credit_limit") - F("overdrawn")),
                name="account_held_within_funds",
            ),
            models.CheckConstraint(condition=Q(overdrawn__gte=0), name="account_overdrawn_not_negative"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="account_currency_iso"),
            models.CheckConstraint(
                condition=Q(renewal_day__isnull=True) | Q(renewal_day__gte=1, renewal_day__lte=31),
                name="account_renewal_day_1_31",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer} {format_money(self.balance, self.currency)}"

    @property
    def available(self):
        """Funds a renewal may use (balances.rules.available_funds)."""
        return available_funds(self.balance, self.held, self.credit_limit)

    @property
    def owes(self):
        """What the account must pay to be back within its credit limit (0
        when it is): it renews nothing until then (balances.rules.owed)."""
        return owed(self.balance, self.credit_limit)


def available_funds_expr(prefix: str = ""):
    """``balances.rules.available_funds`` as a query expression over an
    account's columns, for annotations and filters: ``prefix`` reaches the
    account from another model (``"account__"`` from a customer). Built from
    the rule itself (a rules module imports no django.db)."""
    return available_funds(F(f"{prefix}balance"), F(f"{prefix}held"), F(f"{prefix}credit_limit"))


class EntryKind(models.TextChoices):
    OPENING = "opening", "Opening balance"
    ADJUSTMENT = "adjustment", "Adjustment"
    TOP_UP = "top_up", "Top-up"
    CARD_TOP_UP = "card_top_up", "Card top-up"
    RENEWAL = "renewal", "Renewal charge"
    REFUND = "refund", "Refund"
    # A dispute's amount, withdrawn by the processor when it opens, and
    # reinstated when the dispute is won.
    DISPUTE = "dispute", "Dispute"
    DISPUTE_REVERSAL = "dispute_reversal", "Dispute won"


# Movements the card processor made (a refund, a dispute): recorded even
# when they take the balance below the credit limit, each at most once per
# processor object (its id is the reference).
PROCESSOR_KINDS = (EntryKind.REFUND, EntryKind.DISPUTE, EntryKind.DISPUTE_REVERSAL)


class LedgerEntry(models.Model):
    """One movement of an account's money. Append-only: corrections are new
    entries (on PostgreSQL a trigger refuses UPDATE and DELETE)."""

    # Indexed by (account, business_date) below.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries", db_index=False)
    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    # Signed: credits positive, debits negative.
    amount = MoneyField()
    balance_after = MoneyField()
    # The business date it belongs to (a run for date D posts on D).
    business_date = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    reference = models.CharField(max_length=100, blank=True, help_text="Invoice number, payment id...")
    memo = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        # Append-only rows are never updated, not even when a user is deleted:
        # the name stays in actor_label.
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150)

    tenant_customer_lookup = "account__customer__"
    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["account", "pk"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_amount_not_zero"),
            models.CheckConstraint(condition=Q(kind__in=EntryKind.values), name="ledger_kind_valid"),
            # A refund or a dispute is posted once per processor object, by
            # whichever event or admin action comes first (a webhook and its
            # redelivery, charge.dispute.created and .closed, an admin's
            # refund and its charge.refunded).
            models.UniqueConstraint(
                fields=["kind", "reference"],
                condition=Q(kind__in=PROCESSOR_KINDS),
                name="ledger_processor_object_once",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=PROCESSOR_KINDS) | ~Q(reference=""), name="ledger_processor_reference"
            ),
        ]
        indexes = [models.Index(fields=["account", "business_date"], name="ledger_account_date_idx")]

    def __str__(self) -> str:
        return f"{self.business_date} {self.kind} {self.amount}"
