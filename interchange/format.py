"""The renewal-portal/v1 format's shape: its sections, their keys, the
columns' limits, and the plain rows a valid document becomes
(interchange/document.py validates a file into them; the exporter writes the
same keys)."""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from core.parse import MAX_PERIOD_MONTHS

FORMAT = "renewal-portal/v1"
SECTIONS = ("resellers", "categories", "plans", "customers", "orders")
# Keys an export writes that an import reads past (computed, not loaded).
EXPORT_ONLY_SECTIONS = ("invoices", "messages")
EXPORT_ONLY_KEYS = {"customers": {"ledger_total"}}

# An order's own columns, named the same in the file and the model.
ORDER_COLUMNS = (
    "tenure_months",
    "expires_on",
    "anchor_day",
    "status",
    "auto_renew",
    "payment_source",
    "locked",
    "stopped",
    "pending_action",
    "do_not_renew",
    "auto_renew_locked",
    "lead_days",
    "after_renewal",
    "domain",
)
# An order's individual price: a column of its own in both, but an amount in
# the account's currency (written with its places, parsed in it).
ORDER_MONEY_COLUMNS = ("individual_price",)

# The columns' lengths (tenants, catalog, orders, balances models).
MAX_REF = 100
MAX_TEXT = 200
MAX_EMAIL = 254
MAX_STRIPE_ID = 100
MAX_DOMAIN = 253  # the longest DNS name (orders.Order.domain)
# A plan's tenures: as long as any renewal may be (core.parse).
MAX_TENURE_MONTHS = MAX_PERIOD_MONTHS
# The integer columns' largest value (PositiveIntegerField on PostgreSQL): a
# file's 10**400 is an error listed by its path, not a database error.
MAX_COLUMN_INT = 2**31 - 1
MAX_DAYS = 3650

KEYS = {
    "resellers": {
        "ref",
        "name",
        "email",
        "parent",
        "allow_auto_renew",
        "invoice_prefix",
        "retry_days",
        "last_chance_day",
    },
    "categories": {"ref", "name", "grace_days", "auto_renew_supported", "renewal_needs_csr"},
    "plans": {"ref", "name", "category", "prices", "endless", "auto_renew_allowed", "lead_days", "currency"},
    "customers": {
        "ref",
        "name",
        "email",
        "reseller",
        "balance",
        "credit_limit",
        "auto_renew",
        "allow_auto_renew",
        "currency",
        "stripe_customer_id",
        "stripe_payment_method_id",
        "renewal_day",
        "owner_reseller",
        "retry_exempt",
    },
    "orders": {"ref", "customer", "plan", *ORDER_COLUMNS, *ORDER_MONEY_COLUMNS},
}


@dataclass
class ResellerRow:
    ref: str
    name: str
    email: str
    parent: str | None
    allow_auto_renew: bool
    invoice_prefix: str | None
    # Dunning (docs/dunning.md): ``retry_days`` absent, inherit (retry_own
    # off); null, every night; a list, those days before expiry.
    retry_own: bool = False
    retry_days: list[int] | None = None
    last_chance_day: int = 0


@dataclass
class CategoryRow:
    ref: str
    name: str
    grace_days: int
    auto_renew_supported: bool
    renewal_needs_csr: bool


@dataclass
class PlanRow:
    ref: str
    name: str
    category: str
    prices: dict[int, Decimal]
    endless: bool
    auto_renew_allowed: bool
    lead_days: int | None
    currency: str


@dataclass
class CustomerRow:
    ref: str
    name: str
    email: str
    reseller: str
    balance: Decimal
    credit_limit: Decimal
    auto_renew: bool
    allow_auto_renew: bool
    currency: str
    stripe_customer_id: str
    stripe_payment_method_id: str
    renewal_day: int | None
    # The reseller whose own account this is (SPEC "Resellers are customers
    # too"); ``reseller`` is then the one above it.
    owner_reseller: str | None
    retry_exempt: bool = False  # tried every night, whatever its reseller's retry policy


@dataclass
class OrderRow:
    ref: str
    customer: str
    plan: str
    tenure_months: int
    expires_on: datetime.date | None
    anchor_day: int | None
    status: str
    auto_renew: bool
    payment_source: str
    locked: bool
    stopped: bool
    pending_action: bool
    do_not_renew: bool
    auto_renew_locked: bool
    lead_days: int | None
    after_renewal: str
    domain: str
    individual_price: Decimal | None


@dataclass
class Document:
    currency: str
    resellers: list[ResellerRow] = field(default_factory=list)
    categories: list[CategoryRow] = field(default_factory=list)
    plans: list[PlanRow] = field(default_factory=list)
    customers: list[CustomerRow] = field(default_factory=list)
    orders: list[OrderRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class KnownPlan:
    endless: bool
    tenures: frozenset[int]
    currency: str


@dataclass
class Known:
    """What the database already holds, for refs the file uses but does not
    define (and for checks against existing state)."""

    reseller_parents: dict[str, str | None] = field(default_factory=dict)
    invoice_prefixes: dict[str, str] = field(default_factory=dict)  # prefix -> reseller ref
    categories: set[str] = field(default_factory=set)
    plans: dict[str, KnownPlan] = field(default_factory=dict)
    customer_currencies: dict[str, str] = field(default_factory=dict)
    customers_with_ledger: set[str] = field(default_factory=set)
    # Each existing account's balance: one that owes the processor (a refund
    # or a lost dispute took it below the credit limit) is re-imported as is.
    customer_balances: dict[str, Decimal] = field(default_factory=dict)
    order_statuses: dict[str, str] = field(default_factory=dict)
    # Each existing order's latest renewal recorded: (its period_end, the
    # invoice's number). A file may not set the paid-thru date before it.
    renewed_thru: dict[str, tuple[datetime.date, str]] = field(default_factory=dict)
    # Each reseller's own account held already: reseller ref -> (the
    # account's customer ref, the ref of the reseller it is held with).
    own_accounts: dict[str, tuple[str, str]] = field(default_factory=dict)
