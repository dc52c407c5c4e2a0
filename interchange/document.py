"""The renewal-portal/v1 document, validated into plain values.

``validate_document`` is the whole of the format's rules: it reads a parsed
JSON value and returns either a ``Document`` or the list of every error, each
with its path (``orders[3].expires_on: not a date``). It reads nothing from the
database itself: objects a file refers to but does not contain come in as
``Known`` (from an earlier import), so the rules stay testable as plain data.
"""

import datetime
from decimal import Decimal
from typing import Any

from catalog.rules import lead_days_problem
from core.errors import IllegalTransition
from core.money import is_currency
from core.parse import ParseError, parse_int
from interchange.format import (
    EXPORT_ONLY_KEYS,
    EXPORT_ONLY_SECTIONS,
    FORMAT,
    KEYS,
    MAX_DAYS,
    MAX_DOMAIN,
    MAX_EMAIL,
    MAX_STRIPE_ID,
    MAX_TENURE_MONTHS,
    SECTIONS,
    CategoryRow,
    CustomerRow,
    Document,
    Known,
    KnownPlan,
    OrderRow,
    PlanRow,
    ResellerRow,
)
from interchange.reader import MISSING, Reader, as_json, parse_money, shown_amount, type_name
from orders.models import AfterRenewal, PaymentSource
from orders.periods import anchor_fits
from orders.states import OrderStatus, check_transition
from tenants.rules import RETRY_DAY_MAX, own_account_problem, retry_days_normal, retry_policy_problem


def validate_document(data: Any, known: Known | None = None) -> tuple[Document | None, list[str]]:
    """Check a parsed renewal-portal/v1 file. Returns (document, []) or (None, errors)."""
    known = known or Known()
    errors: list[str] = []
    if not isinstance(data, dict):
        return None, [f"file: must be a JSON object, not {type_name(data)}"]
    top = Reader(errors, data, "file")
    fmt = data.get("format", MISSING)
    if fmt is MISSING:
        errors.append(f'format: required (must be "{FORMAT}")')
    elif fmt != FORMAT:
        errors.append(f'format: must be "{FORMAT}", not {as_json(fmt)}')
    currency = top.raw("currency", False, "USD")
    if not is_currency(currency):
        errors.append(f"currency: must be a three-letter ISO code such as USD, not {as_json(currency)}")
        currency = "USD"
    doc = Document(currency=currency)
    expected = set(SECTIONS) | set(EXPORT_ONLY_SECTIONS) | {"format", "currency", "exported_at"}
    doc.warnings.extend(f"{key}: unknown key, ignored" for key in data if key not in expected)

    sections: dict[str, list[tuple[str, dict]]] = {}
    for name in SECTIONS:
        items = data.get(name, [])
        if not isinstance(items, list):
            errors.append(f"{name}: must be a list, not {type_name(items)}")
            items = []
        objects = []
        for index, item in enumerate(items):
            path = f"{name}[{index}]"
            if not isinstance(item, dict):
                errors.append(f"{path}: must be an object, not {type_name(item)}")
                continue
            unknown = set(item) - KEYS[name] - EXPORT_ONLY_KEYS.get(name, set())
            doc.warnings.extend(f"{path}.{key}: unknown key, ignored" for key in sorted(unknown))
            objects.append((path, item))
        sections[name] = objects
    _check_unique_refs(errors, sections)

    reseller_paths = _resellers(doc, errors, sections["resellers"], known)
    _categories(doc, errors, sections["categories"])
    _plans(doc, errors, sections["plans"], known)
    _customers(doc, errors, sections["customers"], known)
    _own_accounts(doc, errors, sections["customers"], known, reseller_paths)
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


def _resellers(doc: Document, errors: list[str], objects, known: Known) -> dict[str, str]:
    """The resellers' rows; returns each valid row's path by ref."""
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
            **_retry_policy(r),
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
    return paths


def _email(r: Reader, key: str) -> Any:
    value = r.text(key, max_length=MAX_EMAIL)
    if isinstance(value, str) and value and ("@" not in value or " " in value):
        r.error(key, f'not an email address ("{value}")')
        return MISSING
    return value


def _retry_policy(r: Reader) -> dict:
    """A reseller's retry policy (docs/dunning.md): ``retry_days`` absent,
    it inherits (and sets no ``last_chance_day``); null, every night; a list
    of days before expiry. Checked by the rule of every door
    (tenants.rules.retry_policy_problem)."""
    if "retry_days" not in r.obj:
        if "last_chance_day" in r.obj:
            r.error("last_chance_day", "belongs to a policy of its own: give retry_days too (null: every night)")
        return {}
    days = r.obj["retry_days"]
    last = r.integer("last_chance_day", default=0, low=0, high=RETRY_DAY_MAX)
    if last is MISSING:
        return {}
    problem = retry_policy_problem(days, last)
    if problem:
        key = "last_chance_day" if problem.startswith("last_chance_day") else "retry_days"
        r.error(key, problem.removeprefix(f"{key}: ").removeprefix(f"{key} "))
        return {}
    return {"retry_own": True, "retry_days": retry_days_normal(days), "last_chance_day": last}


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
            renewal_needs_csr=r.flag("renewal_needs_csr", False),
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
            r.error("currency", f"must be a three-letter ISO code such as USD, not {as_json(currency)}")
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


def _prices(r: Reader, currency: Any) -> Any:
    value = r.raw("prices", True, None)
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
            price = parse_money(amount, currency)
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
            r.error("currency", f"must be a three-letter ISO code such as USD, not {as_json(currency)}")
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
            renewal_day=r.integer("renewal_day", low=1, high=31, nullable=True),
            owner_reseller=r.ref("owner_reseller", required=False, nullable=True),
            retry_exempt=r.flag("retry_exempt", False),
        )
        if isinstance(row.balance, Decimal) and isinstance(row.credit_limit, Decimal):
            # Below the limit only as it already is (an export of an account
            # that owes): the file changes nothing there.
            if row.balance < -row.credit_limit and known.customer_balances.get(ref) != row.balance:
                r.error(
                    "balance",
                    f"{shown_amount(row.balance, currency)} is below the credit limit "
                    f"(-{shown_amount(row.credit_limit, currency)}); raise credit_limit or correct the balance",
                )
        if row.stripe_payment_method_id and not row.stripe_customer_id:
            r.error("stripe_payment_method_id", "needs the stripe_customer_id the card is saved under")
        if r.ok:
            doc.customers.append(row)


def _own_accounts(doc: Document, errors: list[str], objects, known: Known, reseller_paths: dict[str, str]) -> None:
    """A reseller's own account (SPEC "Resellers are customers too") is held
    with the reseller above it, and a reseller has one at most. A top-level
    reseller has no seller above it (the platform sells through resellers),
    so it holds none."""
    parents = dict(known.reseller_parents)
    parents.update({r.ref: r.parent for r in doc.resellers})
    paths = {obj.get("ref", "").strip(): path for path, obj in objects if isinstance(obj.get("ref"), str)}
    in_file = {c.ref: c for c in doc.customers}
    # Accounts already held that the file does not release (a customer of the
    # file with another owner_reseller, or none, releases its own).
    holders = {
        owner: customer
        for owner, (customer, _seller) in known.own_accounts.items()
        if customer not in in_file or in_file[customer].owner_reseller == owner
    }
    claimed: dict[str, str] = {}
    for row in doc.customers:
        owner = row.owner_reseller
        if owner is None:
            continue
        where = paths[row.ref]
        if owner not in parents:
            errors.append(f'{where}.owner_reseller: unknown reseller "{owner}"')
            continue
        held = claimed.get(owner) or holders.get(owner, row.ref)
        # The admin's rule and sentence (tenants.rules), over refs.
        problem = own_account_problem(
            owner_ref=owner,
            parent_id=parents[owner],
            parent_ref=parents[owner] or "",
            seller_id=row.reseller,
            seller_ref=row.reseller,
            held_ref="" if held == row.ref else held,
        )
        if problem:
            errors.append(f"{where}.owner_reseller: {problem}")
        else:
            claimed[owner] = row.ref
    # A reseller moved under another parent takes its own account along: the
    # file must move the account too.
    for owner, (customer, seller) in known.own_accounts.items():
        if owner in reseller_paths and customer not in in_file and parents.get(owner) != seller:
            errors.append(
                f'{reseller_paths[owner]}.parent: the own account of "{owner}" ("{customer}") is held with '
                f'"{seller}"; moving "{owner}" needs that customer in the file with reseller '
                f'"{parents.get(owner)}"'
            )


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
        lead_days = r.integer("lead_days", low=0, high=MAX_DAYS, nullable=True)
        if isinstance(lead_days, int) and isinstance(tenure, int):
            # The bound of a plan's override, over the order's one tenure.
            problem = lead_days_problem(lead_days, [tenure])
            if problem:
                r.error("lead_days", problem)
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
            lead_days=lead_days,
            after_renewal=r.choice("after_renewal", AfterRenewal.values, AfterRenewal.KEEP),
            domain=_domain(r),
            individual_price=r.amount(
                "individual_price",
                currency=currencies.get(customer) if isinstance(customer, str) else None,
                default=None,
                non_negative=True,
                nullable=True,
            ),
        )
        if r.ok:
            doc.orders.append(row)


def _domain(r: Reader) -> Any:
    value = r.text("domain", max_length=MAX_DOMAIN)
    if isinstance(value, str) and any(c.isspace() or c == "/" for c in value):
        r.error("domain", f'must be a host name such as "example.com", not "{value}"')
        return MISSING
    return value
