"""import_portal: load a renewal-portal/v1 file, all or nothing, idempotent by ref.

Validation first (every error, with its path); only a valid file reaches the
write phase, which runs in one transaction. Objects are matched by ``ref``:
importing again updates what changed (each change audited) and never
duplicates. A customer's balance is set through the ledger: the first import
posts an opening entry, a later one the difference as an adjustment, so the
file wins and ``balance == ledger_total`` always holds.
"""

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery

from audit.services import Change, audit_record_many, audited_update
from balances.locks import lock_account
from balances.models import Account, EntryKind, LedgerEntry
from balances.services import Posting, account_open_many, account_update, ledger_post, ledger_post_many
from catalog.models import Category, Plan, PlanPrice
from core.dates import business_today
from core.errors import DomainError
from core.money import format_money
from core.parse import ParseError
from core.parse import parse_json as core_parse_json
from core.queue import enqueue_on_commit
from interchange.document import validate_document
from interchange.format import MAX_REF, ORDER_COLUMNS, ORDER_MONEY_COLUMNS, Document, Known, KnownPlan
from invoices.models import InvoiceLine
from orders.models import Order
from payments.models import Card
from renewals.open import open_renewals_cancel
from tenants.models import Customer, Reseller
from tenants.rules import invoice_prefix_for
from tenants.scope import Actor
from tenants.services import reseller_paths_rebuild

CHUNK = 900  # below SQLite's bound-parameter limit
# An order's columns that decide its open renewal (its cycle, period, price,
# window, or whether it renews at all).
STALES_OPEN_RENEWAL = frozenset(
    {
        "customer_id",
        "plan_id",
        "expires_on",
        "tenure_months",
        "individual_price",
        "after_renewal",
        "lead_days",
        "status",
        "do_not_renew",
    }
)


class ImportInvalid(DomainError):
    code = "import_invalid"

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__(f"{len(errors)} error(s); nothing was written")


@dataclass
class ImportResult:
    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    ledger_entries: int = 0
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = []
        for name in ("resellers", "categories", "plans", "customers", "orders"):
            parts.append(f"{name}: {self.created[name]} created, {self.updated[name]} updated")
        parts.append(f"ledger entries posted: {self.ledger_entries}")
        return "; ".join(parts)


def parse_json(text: str) -> object:
    """The file's JSON (core.parse: NaN, Infinity and nesting deeper than any
    renewal-portal/v1 file are refused, not a crash)."""
    try:
        return core_parse_json(text)
    except ParseError as exc:
        raise ImportInvalid([f"file: {exc}"]) from exc


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _by_ref(model, refs: Iterable[str], related: tuple[str, ...] = ()) -> dict:
    found = {}
    for chunk in _chunks(sorted(set(refs))):
        found.update({obj.ref: obj for obj in model.objects.filter(ref__in=chunk).select_related(*related)})
    return found


def load_known(data: object) -> Known:
    """What the database holds for the refs a (parsed, unvalidated) file uses."""
    known = Known()
    known.invoice_prefixes = dict(Reseller.objects.values_list("invoice_prefix", "ref"))
    known.reseller_parents = {
        r.ref: (r.parent.ref if r.parent else None) for r in Reseller.objects.select_related("parent")
    }
    known.categories = set(Category.objects.values_list("ref", flat=True))
    # One per reseller at most: as few rows as there are resellers.
    known.own_accounts = {
        owner: (customer, seller)
        for owner, customer, seller in Customer.objects.filter(owner_reseller__isnull=False).values_list(
            "owner_reseller__ref", "ref", "reseller__ref"
        )
    }
    tenures: dict[int, set[int]] = {}
    for plan_id, months in PlanPrice.objects.values_list("plan_id", "months"):
        tenures.setdefault(plan_id, set()).add(months)
    known.plans = {
        p.ref: KnownPlan(endless=p.endless, tenures=frozenset(tenures.get(p.pk, ())), currency=p.currency)
        for p in Plan.objects.all()
    }
    if not isinstance(data, dict):
        return known
    customer_refs = _refs_in(data.get("customers"), "ref") | _refs_in(data.get("orders"), "customer")
    has_ledger = LedgerEntry.objects.filter(account_id=OuterRef("pk"))
    for chunk in _chunks(sorted(customer_refs)):
        rows = Customer.objects.filter(ref__in=chunk).annotate(has_ledger=Exists(has_ledger))
        for ref, currency, balance, ledger in rows.values_list(
            "ref", "account__currency", "account__balance", "has_ledger"
        ):
            known.customer_currencies[ref] = currency
            known.customer_balances[ref] = balance
            if ledger:
                known.customers_with_ledger.add(ref)
    for chunk in _chunks(sorted(_refs_in(data.get("orders"), "ref"))):
        known.order_statuses.update(Order.objects.filter(ref__in=chunk).values_list("ref", "status"))
        # Each order's latest renewal (found through the unique (order,
        # period_start) index), one row per order however long its history.
        latest = InvoiceLine.objects.filter(order_id=OuterRef("pk")).order_by("-period_end")
        rows = (
            Order.objects.filter(ref__in=chunk)
            .annotate(
                end=Subquery(latest.values("period_end")[:1]), number=Subquery(latest.values("invoice__number")[:1])
            )
            .filter(end__isnull=False)
            .values_list("ref", "end", "number")
        )
        known.renewed_thru.update((ref, (end, number)) for ref, end, number in rows)
    return known


def _refs_in(items: object, key: str) -> set[str]:
    """The refs to look up: not one PostgreSQL would refuse in a query (a NUL)
    or no column holds (too long); validation lists those as errors."""
    if not isinstance(items, list):
        return set()
    refs = {item[key].strip() for item in items if isinstance(item, dict) and isinstance(item.get(key), str)}
    return {ref for ref in refs if "\x00" not in ref and len(ref) <= MAX_REF}


def portal_import(*, data: object, actor: Actor | None = None) -> ImportResult:
    """Validate and load a parsed file. Raises ImportInvalid (nothing written)."""
    actor = actor or Actor.system("import")
    with transaction.atomic():
        # Validation reads the database inside the write transaction, so what it
        # checked against is what the writes see.
        document, errors = validate_document(data, load_known(data))
        if errors:
            raise ImportInvalid(errors)
        result = ImportResult(warnings=list(document.warnings))
        _Writer(document, actor, result).run()
    return result


class _Writer:
    def __init__(self, doc: Document, actor: Actor, result: ImportResult):
        self.doc = doc
        self.actor = actor
        self.result = result
        self.today = business_today()
        self.created_changes: list[Change] = []

    def run(self) -> None:
        resellers = self.resellers()
        categories = self.categories()
        plans = self.plans(categories)
        customers = self.customers(resellers)
        self.orders(customers, plans)
        audit_record_many(actor=self.actor, changes=self.created_changes, business_date=self.today)

    def _update(self, name: str, instance, changes: dict) -> list[str]:
        changed = audited_update(actor=self.actor, instance=instance, changes=changes, reason="import")
        if changed:
            self.result.updated[name] += 1
        return changed

    def _created(self, name: str, objects: list) -> None:
        self.result.created[name] += len(objects)
        self.created_changes.extend(
            Change(f"{obj._meta.model_name}.create", obj, None, {"ref": obj.ref}, "import") for obj in objects
        )

    def resellers(self) -> dict[str, Reseller]:
        rows = self.doc.resellers
        existing = _by_ref(Reseller, [r.ref for r in rows])
        taken = set(Reseller.objects.values_list("invoice_prefix", flat=True))
        taken |= {r.invoice_prefix for r in rows if r.invoice_prefix}
        new = []
        for r in rows:
            if r.ref in existing:
                continue
            prefix = r.invoice_prefix or invoice_prefix_for(r.ref, taken)
            taken.add(prefix)
            new.append(
                Reseller(
                    ref=r.ref,
                    name=r.name,
                    email=r.email,
                    allow_auto_renew=r.allow_auto_renew,
                    invoice_prefix=prefix,
                    **_retry_fields(r),
                )
            )
        for reseller in new:
            reseller.save()
        self._created("resellers", new)
        by_ref = {**{r.ref: r for r in Reseller.objects.all()}}
        for row in rows:
            parent = by_ref[row.parent] if row.parent else None
            reseller = by_ref[row.ref]
            if row.ref in existing:
                changes = {"name": row.name, "email": row.email, "allow_auto_renew": row.allow_auto_renew}
                changes.update(_retry_fields(row))
                if row.invoice_prefix:
                    changes["invoice_prefix"] = row.invoice_prefix
                changes["parent_id"] = parent.pk if parent else None
                self._update("resellers", reseller, changes)
            elif parent is not None:
                reseller.parent = parent
                reseller.save(update_fields=["parent"])
        reseller_paths_rebuild()
        return by_ref

    def categories(self) -> dict[str, Category]:
        rows = self.doc.categories
        existing = _by_ref(Category, [r.ref for r in rows])
        new = []
        for row in rows:
            fields = {
                "name": row.name,
                "grace_days": row.grace_days,
                "auto_renew_supported": row.auto_renew_supported,
                "renewal_needs_csr": row.renewal_needs_csr,
            }
            if row.ref in existing:
                self._update("categories", existing[row.ref], fields)
            else:
                new.append(Category(ref=row.ref, **fields))
        Category.objects.bulk_create(new)
        self._created("categories", new)
        return {c.ref: c for c in Category.objects.all()}

    def plans(self, categories: dict[str, Category]) -> dict[str, Plan]:
        rows = self.doc.plans
        existing = _by_ref(Plan, [r.ref for r in rows])
        new = []
        for row in rows:
            fields = {
                "name": row.name,
                "category_id": categories[row.category].pk,
                "endless": row.endless,
                "auto_renew_allowed": row.auto_renew_allowed,
                "lead_days": row.lead_days,
                "currency": row.currency,
            }
            if row.ref in existing:
                self._update("plans", existing[row.ref], fields)
            else:
                plan = Plan(ref=row.ref, **fields)
                plan.save()
                new.append(plan)
        self._created("plans", new)
        plans = _by_ref(Plan, [r.ref for r in rows])
        self._prices(plans, {r.ref for r in new})
        plans.update({p.ref: p for p in Plan.objects.all() if p.ref not in plans})
        return plans

    def _prices(self, plans: dict[str, Plan], new_refs: set[str]) -> None:
        current: dict[int, dict[int, PlanPrice]] = {}
        for price in PlanPrice.objects.filter(plan__in=list(plans.values())):
            current.setdefault(price.plan_id, {})[price.months] = price
        for row in self.doc.plans:
            plan = plans[row.ref]
            have = current.get(plan.pk, {})
            before = {m: p.amount for m, p in have.items()}
            if before == row.prices:
                continue
            removed = sorted(set(have) - set(row.prices))
            in_use = list(
                Order.objects.filter(plan=plan, tenure_months__in=removed)
                .exclude(ref__in=[o.ref for o in self.doc.orders if o.plan == row.ref])
                .values_list("ref", flat=True)[:5]
            )
            if in_use:
                raise ImportInvalid(
                    [f'plans: "{row.ref}" drops the price of a tenure that orders {", ".join(in_use)} still use']
                )
            PlanPrice.objects.filter(plan=plan, months__in=removed).delete()
            for months, amount in row.prices.items():
                if months in have:
                    if have[months].amount != amount:
                        have[months].amount = amount
                        have[months].save(update_fields=["amount"])
                else:
                    PlanPrice.objects.create(plan=plan, months=months, amount=amount)
            if row.ref not in new_refs:
                self.created_changes.append(Change("plan.prices", plan, before, row.prices, "import"))
                self.result.updated["plans"] += 1

    def customers(self, resellers: dict[str, Reseller]) -> dict[str, Customer]:
        rows = self.doc.customers
        existing = _by_ref(Customer, [r.ref for r in rows], related=("account", "owner_reseller"))
        self._release_own_accounts(existing, rows, resellers)
        new_rows = [r for r in rows if r.ref not in existing]
        new = [
            Customer(
                ref=r.ref,
                name=r.name,
                email=r.email,
                reseller=resellers[r.reseller],
                allow_auto_renew=r.allow_auto_renew,
                owner_reseller=resellers[r.owner_reseller] if r.owner_reseller else None,
                retry_exempt=r.retry_exempt,
            )
            for r in new_rows
        ]
        Customer.objects.bulk_create(new, batch_size=CHUNK)
        created = _by_ref(Customer, [r.ref for r in new_rows])
        self._created("customers", list(created.values()))
        # A new account opens empty and gets its balance from its opening
        # entry, in the same transaction (the ledger's door, with its audit
        # record): the cached balance equals the ledger from birth.
        account_open_many(
            accounts=[
                Account(
                    customer=created[r.ref],
                    currency=r.currency,
                    credit_limit=r.credit_limit,
                    auto_renew=r.auto_renew,
                    stripe_customer_id=r.stripe_customer_id,
                    stripe_payment_method_id=r.stripe_payment_method_id,
                    renewal_day=r.renewal_day,
                )
                for r in new_rows
            ]
        )
        openings = ledger_post_many(
            actor=self.actor,
            postings=[
                Posting(
                    account_id=created[r.ref].pk,
                    amount=r.balance,
                    kind=EntryKind.OPENING,
                    currency=r.currency,
                    memo="Opening balance (import)",
                    reason="import",
                )
                for r in new_rows
                if r.balance != 0
            ],
            business_date=self.today,
        )
        self.result.ledger_entries += len(openings)
        for row in rows:
            if row.ref in existing:
                self._update_customer(existing[row.ref], row, resellers)
        customers = {**existing, **created}
        self._cards(customers, rows)
        return customers

    def _release_own_accounts(self, existing: dict[str, Customer], rows, resellers: dict[str, Reseller]) -> None:
        """An own account changing hands within the file (one customer lets
        go of a reseller's own account, another takes it) lets go first: the
        link is one to one, so the taker's write would otherwise collide. The
        audited update of each customer records the change (before, after)."""
        letting_go = [
            existing[r.ref].pk
            for r in rows
            if r.ref in existing
            and existing[r.ref].owner_reseller_id is not None
            and existing[r.ref].owner_reseller_id != (resellers[r.owner_reseller].pk if r.owner_reseller else None)
        ]
        if letting_go:
            Customer.objects.filter(pk__in=letting_go).update(owner_reseller=None)

    def _own_account(self, customer: Customer, owner: str | None, resellers: dict[str, Reseller]) -> list[str]:
        """Whose own account ``customer`` is, audited by the resellers' refs
        like tenants.services.customer_set_owner_reseller (the admin's door;
        the file's rule is checked with the same sentence by the document)."""
        before = customer.owner_reseller.ref if customer.owner_reseller_id else None
        if before == owner:
            return []
        customer.owner_reseller = resellers[owner] if owner else None
        customer.save(update_fields=["owner_reseller"])
        self.created_changes.append(Change("customer.owner_reseller", customer, before, owner, "import"))
        return ["owner_reseller"]

    def _cards(self, customers: dict[str, Customer], rows) -> None:
        """A migrated card reference (``stripe_payment_method_id``) becomes the
        account's default saved card, so the card path can charge it; never a
        card number. Its brand, last 4 and expiry are asked from Stripe once
        the import has committed (no network call inside its transaction)."""
        wanted = {customers[r.ref].pk: r.stripe_payment_method_id for r in rows if r.stripe_payment_method_id}
        if not wanted:
            return
        have = dict(
            Card.objects.filter(stripe_payment_method_id__in=list(wanted.values())).values_list(
                "stripe_payment_method_id", "account_id"
            )
        )
        new = []
        for account_id, method in wanted.items():
            if have.get(method) == account_id:
                Card.objects.filter(account_id=account_id).exclude(stripe_payment_method_id=method).update(
                    is_default=False
                )
                Card.objects.filter(stripe_payment_method_id=method).update(is_default=True)
                continue
            Card.objects.filter(account_id=account_id, is_default=True).update(is_default=False)
            new.append(Card.objects.create(account_id=account_id, stripe_payment_method_id=method, is_default=True).pk)
        if new:
            enqueue_on_commit("payments.tasks.fill_card_details", new)

    def _update_customer(self, customer: Customer, row, resellers: dict[str, Reseller]) -> None:
        changed = audited_update(
            actor=self.actor,
            instance=customer,
            changes={
                "name": row.name,
                "email": row.email,
                "reseller_id": resellers[row.reseller].pk,
                "allow_auto_renew": row.allow_auto_renew,
                "retry_exempt": row.retry_exempt,
            },
            reason="import",
        )
        changed += self._own_account(customer, row.owner_reseller, resellers)
        account = lock_account(customer.pk)
        # The standing renewal day is a setting of the account, not money: set
        # here under the account's lock, audited like the customer's fields.
        changed += audited_update(
            actor=self.actor, instance=account, changes={"renewal_day": row.renewal_day}, reason="import"
        )
        settings = {
            "currency": row.currency,
            "auto_renew": row.auto_renew,
            "stripe_customer_id": row.stripe_customer_id,
            "stripe_payment_method_id": row.stripe_payment_method_id,
        }
        # Widen the credit limit before moving the balance, narrow it after, so
        # no step passes through a state the database refuses.
        wider = max(account.credit_limit, row.credit_limit)
        changed += account_update(
            actor=self.actor, account_id=account.pk, reason="import", credit_limit=wider, **settings
        )
        difference = row.balance - account.balance
        if difference:
            ledger_post(
                actor=self.actor,
                account_id=account.pk,
                amount=difference,
                kind=EntryKind.ADJUSTMENT,
                memo=f"Balance set to {format_money(row.balance, row.currency)} by import",
                business_date=self.today,
            )
            self.result.ledger_entries += 1
            changed.append("balance")
        changed += account_update(
            actor=self.actor, account_id=account.pk, reason="import", credit_limit=row.credit_limit
        )
        if changed:
            self.result.updated["customers"] += 1

    def orders(self, customers: dict[str, Customer], plans: dict[str, Plan]) -> None:
        rows = self.doc.orders
        existing = _by_ref(Order, [r.ref for r in rows])
        missing_customers = {r.customer for r in rows} - set(customers)
        customers = {**customers, **_by_ref(Customer, missing_customers)}
        new = []
        stale = []
        for row in rows:
            fields = {
                "customer_id": customers[row.customer].pk,
                "plan_id": plans[row.plan].pk,
                **{name: getattr(row, name) for name in (*ORDER_COLUMNS, *ORDER_MONEY_COLUMNS)},
            }
            if row.ref in existing:
                if not STALES_OPEN_RENEWAL.isdisjoint(self._update("orders", existing[row.ref], fields)):
                    stale.append(existing[row.ref].pk)
            else:
                new.append(Order(ref=row.ref, **fields))
        # An open renewal priced or dated by what the file changed is
        # cancelled (one statement); the night opens it again from the quote
        # path while the order's window holds (renewals.open).
        for chunk in _chunks(stale):
            open_renewals_cancel(chunk, self.today)
        Order.objects.bulk_create(new, batch_size=CHUNK)
        created = _by_ref(Order, [o.ref for o in new])
        self._created("orders", list(created.values()))


def _retry_fields(row) -> dict:
    """A reseller row's retry policy as its columns (docs/dunning.md): a
    row without ``retry_days`` inherits, so its own policy is switched off."""
    return {"retry_own": row.retry_own, "retry_days": row.retry_days, "last_chance_day": row.last_chance_day}
