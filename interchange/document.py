"""The renewal-portal/v1 document, validated into plain values.

``validate_document`` is the whole of the format's rules: it reads a parsed
JSON value and returns either a ``Document`` or the list of every error, each
with its path (``orders[3].expires_on: not a date``). It reads nothing from the
database itself: objects a file refers to but does not contain come in as
``Known`` (from an earlier import), so the rules stay testable as plain data.
"""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from catalog.rules import lead_days_problem
from core.errors import IllegalTransition
from core.money import format_amount, is_currency, parse_amount, parse_decimal
from core.parse import MAX_PERIOD_MONTHS, ParseError, parse_int
from orders.models import PaymentSource
from orders.periods import anchor_fits
from orders.states import OrderStatus, check_transition

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
)

# The columns' lengths (tenants, catalog, orders, balances models).
MAX_REF = 100
MAX_TEXT = 200
MAX_EMAIL = 254
MAX_STRIPE_ID = 100
# A plan's tenures: as long as any renewal may be (core.parse).
MAX_TENURE_MONTHS = MAX_PERIOD_MONTHS
# The integer columns' largest value (PositiveIntegerField on PostgreSQL): a
# file's 10**400 is an error listed by its path, not a database error.
MAX_COLUMN_INT = 2**31 - 1
MAX_DAYS = 3650

KEYS = {
    "resellers": {"ref", "name", "email", "parent", "allow_auto_renew", "invoice_prefix"},
    "categories": {"ref", "name", "grace_days", "auto_renew_supported"},
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
    },
    "orders": {"ref", "customer", "plan", *ORDER_COLUMNS},
}


@dataclass
class ResellerRow:
    ref: str
    name: str
    email: str
    parent: str | None
    allow_auto_renew: bool
    invoice_prefix: str | None


@dataclass
class CategoryRow:
    ref: str
    name: str
    grace_days: int
    auto_renew_supported: bool


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


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()


class Reader:
    """Reads typed values out of one JSON object, noting each error by path."""

    def __init__(self, errors: list[str], obj: dict, path: str):
        self.errors = errors
        self.obj = obj
        self.path = path
        self.ok = True

    def error(self, key: str | None, message: str) -> None:
        self.ok = False
        where = f"{self.path}.{key}" if key else self.path
        self.errors.append(f"{where}: {message}")

    def _get(self, key: str, required: bool, default: Any) -> Any:
        if key in self.obj:
            return self.obj[key]
        if required:
            self.error(key, "required")
        return MISSING if required else default

    def text(
        self,
        key: str,
        *,
        required: bool = False,
        default: str = "",
        nonempty: bool = False,
        max_length: int = MAX_TEXT,
    ) -> Any:
        value = self._get(key, required, default)
        if value is MISSING:
            return value
        if value is None and not required and not nonempty:
            return default
        if not isinstance(value, str):
            self.error(key, f"must be a string, not {_type_name(value)}")
            return MISSING
        if not self._fits(key, value, max_length):
            return MISSING
        if nonempty and not value.strip():
            self.error(key, "must not be empty")
            return MISSING
        return value.strip()

    def ref(self, key: str, *, required: bool = True, nullable: bool = False) -> Any:
        value = self._get(key, required, None)
        if value is None and (nullable or not required):
            return None
        if value is MISSING:
            return value
        if not isinstance(value, str) or not value.strip():
            self.error(key, f"must be a non-empty string ref, not {_json(value)}")
            return MISSING
        if not self._fits(key, value, MAX_REF):
            return MISSING
        return value.strip()

    def _fits(self, key: str, value: str, max_length: int) -> bool:
        """A string the columns can hold: PostgreSQL refuses a NUL character,
        and a longer value than the column's is refused there too."""
        if "\x00" in value:
            self.error(key, "must not contain a null character")
            return False
        if len(value.strip()) > max_length:
            self.error(key, f"must be at most {max_length} characters, not {len(value.strip())}")
            return False
        return True

    def flag(self, key: str, default: bool) -> Any:
        value = self._get(key, False, default)
        if not isinstance(value, bool):
            self.error(key, f"must be true or false, not {_json(value)}")
            return MISSING
        return value

    def integer(
        self,
        key: str,
        *,
        required: bool = False,
        default: Any = None,
        low: int | None = None,
        high: int | None = None,
        nullable: bool = False,
    ) -> Any:
        value = self._get(key, required, default)
        if value is MISSING or (value is None and (nullable or not required)):
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(key, f"must be a whole number, not {_json(value)}")
            return MISSING
        if abs(value) > MAX_COLUMN_INT:
            self.error(key, f"must be at most {MAX_COLUMN_INT}, not a number of {len(str(abs(value)))} digits")
            return MISSING
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            self.error(key, f"must be {bounds}, not {value}")
            return MISSING
        return value

    def amount(self, key: str, *, currency: Any, default: str, non_negative: bool = False) -> Any:
        """An amount of ``currency``, refused when finer than its minor unit
        (SPEC "Money"); only checked as an amount when the currency is wrong
        itself (its own error is listed)."""
        value = self._get(key, False, default)
        try:
            amount = _parse(value, currency)
        except ValueError as exc:
            self.error(key, str(exc))
            return MISSING
        if non_negative and amount < 0:
            self.error(key, f"must not be negative ({value})")
            return MISSING
        return amount

    def date(self, key: str, *, required: bool = True) -> Any:
        value = self._get(key, required, None)
        if value is MISSING or value is None:
            return value
        if not isinstance(value, str):
            self.error(key, f"not a date: must be a YYYY-MM-DD string, not {_json(value)}")
            return MISSING
        try:
            if len(value) != 10:
                raise ValueError
            return datetime.date.fromisoformat(value)
        except ValueError:
            self.error(key, f'not a date ("{value}"; expected YYYY-MM-DD)')
            return MISSING

    def choice(self, key: str, choices: list[str], default: str) -> Any:
        value = self._get(key, False, default)
        if value not in choices:
            self.error(key, f"must be one of {', '.join(choices)}, not {_json(value)}")
            return MISSING
        return value


def _shown(amount: Decimal, currency: Any) -> str:
    return format_amount(amount, currency) if is_currency(currency) else str(amount)


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "true/false", type(None): "null"}.get(
        type(value), f"a {type(value).__name__}" if not isinstance(value, int | float) else "a number"
    )


def _json(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return _type_name(value)
    return str(value)


def validate_document(data: Any, known: Known | None = None) -> tuple[Document | None, list[str]]:
    """Check a parsed renewal-portal/v1 file. Returns (document, []) or (None, errors)."""
    known = known or Known()
    errors: list[str] = []
    if not isinstance(data, dict):
        return None, [f"file: must be a JSON object, not {_type_name(data)}"]
    top = Reader(errors, data, "file")
    fmt = data.get("format", MISSING)
    if fmt is MISSING:
        errors.append(f'format: required (must be "{FORMAT}")')
    elif fmt != FORMAT:
        errors.append(f'format: must be "{FORMAT}", not {_json(fmt)}')
    currency = top._get("currency", False, "USD")
    if not is_currency(currency):
        errors.append(f"currency: must be a three-letter ISO code such as USD, not {_json(currency)}")
        currency = "USD"
    doc = Document(currency=currency)
    expected = set(SECTIONS) | set(EXPORT_ONLY_SECTIONS) | {"format", "currency", "exported_at"}
    doc.warnings.extend(f"{key}: unknown key, ignored" for key in data if key not in expected)

    sections: dict[str, list[tuple[str, dict]]] = {}
    for name in SECTIONS:
        items = data.get(name, [])
        if not isinstance(items, list):
            errors.append(f"{name}: must be a list, not {_type_name(items)}")
            items = []
        objects = []
        for index, item in enumerate(items):
            path = f"{name}[{index}]"
            if not isinstance(item, dict):
                errors.append(f"{path}: must be an object, not {_type_name(item)}")
                continue
            unknown = set(item) - KEYS[name] - EXPORT_ONLY_KEYS.get(name, set())
            doc.warnings.extend(f"{path}.{key}: unknown key, ignored" for key in sorted(unknown))
            objects.append((path, item))
        sections[name] = objects
    _check_unique_refs(errors, sections)

    _resellers(doc, errors, sections["resellers"], known)
    _categories(doc, errors, sections["categories"])
    _plans(doc, errors, sections["plans"], known)
    _customers(doc, errors, sections["customers"], known)
    _orders(doc, errors, sections["orders"], known)
    return (None, errors) if errors else (doc, [])


def _check_unique_refs(errors: list[str], sections: dict[str, list[tuple[str, dict]]]) -> None:
    for objects in sections.values():
        first: dict[str, str] = {}
        for path, item in objects:
            ref = item.get("ref")
            if isinstance(ref, str) and ref.strip():
                if ref.strip() in first:
                    errors.append(f'{path}.ref: "{ref}" is used twice (also {first[ref.strip()]})')
                else:
                    first[ref.strip()] = path


def _resellers(doc: Document, errors: list[str], objects, known: Known) -> None:
    parents = dict(known.reseller_parents)
    paths = {}
    for path, obj in objects:
        r = Reader(errors, obj, path)
        row = ResellerRow(
            ref=r.ref("ref"),
            name=r.text("name", required=True, nonempty=True),
            email=_email(r, "email"),
            parent=r.ref("parent", required=False, nullable=True),
            allow_auto_renew=r.flag("allow_auto_renew", True),
            invoice_prefix=_prefix(r),
        )
        if r.ok:
            doc.resellers.append(row)
            parents[row.ref] = row.parent
            paths[row.ref] = path
    holders = dict(known.invoice_prefixes)
    for row in doc.resellers:
        if row.invoice_prefix is None:
            continue
        holder = holders.setdefault(row.invoice_prefix, row.ref)
        if holder != row.ref:
            errors.append(
                f'{paths[row.ref]}.invoice_prefix: "{row.invoice_prefix}" already belongs to reseller "{holder}"'
            )
    for row in doc.resellers:
        if row.parent is not None and row.parent not in parents:
            errors.append(f'{paths[row.ref]}.parent: unknown reseller "{row.parent}"')
    for row in doc.resellers:
        seen, current = {row.ref}, row.parent
        while current is not None and current in parents:
            if current in seen:
                errors.append(f'{paths[row.ref]}.parent: "{row.parent}" makes a loop in the reseller tree')
                break
            seen.add(current)
            current = parents[current]


def _email(r: Reader, key: str) -> Any:
    value = r.text(key, max_length=MAX_EMAIL)
    if isinstance(value, str) and value and ("@" not in value or " " in value):
        r.error(key, f'not an email address ("{value}")')
        return MISSING
    return value


def _prefix(r: Reader) -> Any:
    value = r.text("invoice_prefix", default=None)
    if isinstance(value, str) and not (value.isascii() and value.replace("-", "").isalnum() and len(value) <= 12):
        r.error("invoice_prefix", f'must be up to 12 letters or digits ("{value}")')
        return MISSING
    return value


def _categories(doc: Document, errors: list[str], objects) -> None:
    for path, obj in objects:
        r = Reader(errors, obj, path)
        row = CategoryRow(
            ref=r.ref("ref"),
            name=r.text("name", required=True, nonempty=True),
            grace_days=r.integer("grace_days", required=True, low=0, high=MAX_DAYS),
            auto_renew_supported=r.flag("auto_renew_supported", True),
        )
        if r.ok:
            doc.categories.append(row)


def _plans(doc: Document, errors: list[str], objects, known: Known) -> None:
    categories = known.categories | {c.ref for c in doc.categories}
    for path, obj in objects:
        r = Reader(errors, obj, path)
        category = r.ref("category")
        if isinstance(category, str) and category not in categories:
            r.error("category", f'unknown category "{category}"')
        currency = r.text("currency", default=doc.currency)
        if isinstance(currency, str) and not is_currency(currency):
            r.error("currency", f"must be a three-letter ISO code such as USD, not {_json(currency)}")
        prices = _prices(r, currency)
        row = PlanRow(
            ref=r.ref("ref"),
            name=r.text("name", required=True, nonempty=True),
            category=category,
            prices=prices,
            endless=r.flag("endless", False),
            auto_renew_allowed=r.flag("auto_renew_allowed", True),
            lead_days=r.integer("lead_days", low=0, high=MAX_DAYS, nullable=True),
            currency=currency,
        )
        if isinstance(row.lead_days, int) and isinstance(prices, dict):
            problem = lead_days_problem(row.lead_days, prices)
            if problem:
                r.error("lead_days", problem)
        if r.ok:
            doc.plans.append(row)


def _parse(text: Any, currency: Any):
    """``parse_amount`` in ``currency``, or as a plain amount when the currency is wrong."""
    if isinstance(text, str) and not text.isascii():  # Decimal() reads "٣" as 3
        raise ValueError(f'not an amount ("{text[:40]}"): write it with the digits 0-9')
    return parse_amount(text, currency) if is_currency(currency) else parse_decimal(text)


def _prices(r: Reader, currency: Any) -> Any:
    value = r._get("prices", True, None)
    if value is MISSING:
        return value
    if not isinstance(value, dict) or not value:
        r.error("prices", 'must be an object of months to amounts, such as {"1": "10.00", "12": "100.00"}')
        return MISSING
    prices: dict[int, Decimal] = {}
    for months, amount in value.items():
        key = f'prices["{months[:20]}"]'
        try:
            tenure = parse_int(months, low=1, high=MAX_TENURE_MONTHS)
        except ParseError:
            r.error(key, f"the tenure must be a whole number of months (digits 0-9), from 1 to {MAX_TENURE_MONTHS}")
            continue
        try:
            price = _parse(amount, currency)
        except ValueError as exc:
            r.error(key, str(exc))
            continue
        if price < 0:
            r.error(key, f"a price must not be negative ({amount})")
            continue
        prices[tenure] = price
    return dict(sorted(prices.items()))


def _customers(doc: Document, errors: list[str], objects, known: Known) -> None:
    resellers = set(known.reseller_parents) | {r.ref for r in doc.resellers}
    for path, obj in objects:
        r = Reader(errors, obj, path)
        reseller = r.ref("reseller")
        if isinstance(reseller, str) and reseller not in resellers:
            r.error("reseller", f'unknown reseller "{reseller}"')
        ref = r.ref("ref")
        currency = r.text("currency", default=doc.currency)
        if isinstance(currency, str) and not is_currency(currency):
            r.error("currency", f"must be a three-letter ISO code such as USD, not {_json(currency)}")
        elif (
            isinstance(ref, str)
            and ref in known.customers_with_ledger
            and known.customer_currencies.get(ref, currency) != currency
        ):
            r.error(
                "currency",
                f"the account already has ledger entries in {known.customer_currencies[ref]}; "
                f"its currency cannot become {currency}",
            )
        row = CustomerRow(
            ref=ref,
            name=r.text("name", required=True, nonempty=True),
            email=_email(r, "email"),
            reseller=reseller,
            balance=r.amount("balance", currency=currency, default="0"),
            credit_limit=r.amount("credit_limit", currency=currency, default="0", non_negative=True),
            auto_renew=r.flag("auto_renew", True),
            allow_auto_renew=r.flag("allow_auto_renew", True),
            currency=currency,
            stripe_customer_id=r.text("stripe_customer_id", max_length=MAX_STRIPE_ID),
            stripe_payment_method_id=r.text("stripe_payment_method_id", max_length=MAX_STRIPE_ID),
        )
        if isinstance(row.balance, Decimal) and isinstance(row.credit_limit, Decimal):
            # Below the limit only as it already is (an export of an account
            # that owes): the file changes nothing there.
            if row.balance < -row.credit_limit and known.customer_balances.get(ref) != row.balance:
                r.error(
                    "balance",
                    f"{_shown(row.balance, currency)} is below the credit limit "
                    f"(-{_shown(row.credit_limit, currency)}); raise credit_limit or correct the balance",
                )
        if row.stripe_payment_method_id and not row.stripe_customer_id:
            r.error("stripe_payment_method_id", "needs the stripe_customer_id the card is saved under")
        if r.ok:
            doc.customers.append(row)


def _orders(doc: Document, errors: list[str], objects, known: Known) -> None:
    currencies = dict(known.customer_currencies)
    currencies.update({c.ref: c.currency for c in doc.customers})
    plans = dict(known.plans)
    plans.update(
        {p.ref: KnownPlan(endless=p.endless, tenures=frozenset(p.prices), currency=p.currency) for p in doc.plans}
    )
    for path, obj in objects:
        r = Reader(errors, obj, path)
        ref = r.ref("ref")
        customer = r.ref("customer")
        if isinstance(customer, str) and customer not in currencies:
            r.error("customer", f'unknown customer "{customer}"')
        plan_ref = r.ref("plan")
        plan = plans.get(plan_ref) if isinstance(plan_ref, str) else None
        if isinstance(plan_ref, str) and plan is None:
            r.error("plan", f'unknown plan "{plan_ref}"')
        tenure = r.integer("tenure_months", required=True, low=1)
        expires_on = r.date("expires_on")
        anchor_day = r.integer("anchor_day", low=1, high=31, nullable=True)
        status = r.choice("status", OrderStatus.values, OrderStatus.ACTIVE)
        if plan is not None:
            if plan.endless and expires_on not in (None, MISSING):
                r.error("expires_on", f'must be null: plan "{plan_ref}" is endless')
            if not plan.endless and expires_on is None:
                r.error("expires_on", f'null is only for endless plans, and "{plan_ref}" is not endless')
            if not plan.endless and isinstance(tenure, int) and tenure not in plan.tenures:
                tenures = ", ".join(str(t) for t in sorted(plan.tenures))
                r.error("tenure_months", f'plan "{plan_ref}" has no price for {tenure} months (it has {tenures})')
            account_currency = currencies.get(customer) if isinstance(customer, str) else None
            if account_currency and account_currency != plan.currency:
                r.error(
                    "plan",
                    f'plan "{plan_ref}" is priced in {plan.currency}, but customer "{customer}" pays in '
                    f"{account_currency}",
                )
        if expires_on is None and status not in (OrderStatus.ACTIVE, MISSING):
            r.error("status", f"an endless order never runs out, so it cannot be {status}")
        if isinstance(expires_on, datetime.date):
            if anchor_day is None:
                anchor_day = expires_on.day
            elif isinstance(anchor_day, int) and not anchor_fits(expires_on, anchor_day):
                r.error(
                    "anchor_day",
                    f"{anchor_day} does not fit expires_on {expires_on.isoformat()} (it must be that "
                    f"date's day, or larger when the date is the month's last day)",
                )
        elif expires_on is None:
            anchor_day = None
        renewed = known.renewed_thru.get(ref) if isinstance(ref, str) else None
        if renewed and isinstance(expires_on, datetime.date) and expires_on < renewed[0]:
            # Its cycle was renewed already: the next run would renew it again
            # (SPEC "Orders": that row is an error in the file).
            r.error(
                "expires_on",
                f"{expires_on.isoformat()} is before {renewed[0].isoformat()}, the end of a renewal already "
                f"paid (invoice {renewed[1]}); a re-import cannot set a paid-thru date back",
            )
        current = known.order_statuses.get(ref) if isinstance(ref, str) else None
        if isinstance(status, str) and current and current != status:
            try:
                check_transition(current, status, label=f'order "{ref}"')
            except IllegalTransition as exc:
                r.error("status", str(exc))
        row = OrderRow(
            ref=ref,
            customer=customer,
            plan=plan_ref,
            tenure_months=tenure,
            expires_on=expires_on,
            anchor_day=anchor_day,
            status=status,
            auto_renew=r.flag("auto_renew", False),
            payment_source=r.choice("payment_source", PaymentSource.values, PaymentSource.BALANCE),
            locked=r.flag("locked", False),
            stopped=r.flag("stopped", False),
            pending_action=r.flag("pending_action", False),
            do_not_renew=r.flag("do_not_renew", False),
            auto_renew_locked=r.flag("auto_renew_locked", False),
        )
        if r.ok:
            doc.orders.append(row)
