"""export_portal: the portal's current state in the renewal-portal/v1 format.

Everything an import reads, plus the state it cannot set: balances with their
ledger totals, invoices and notices. Written as a stream, section by section
and row by row, so memory stays flat however many orders there are.
"""

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import IO

from django.db.models import Sum

from balances.models import LedgerEntry
from catalog.models import Category, Plan, PlanPrice
from core.money import format_amount
from interchange.format import FORMAT, ORDER_COLUMNS, ORDER_MONEY_COLUMNS
from invoices.models import Invoice, InvoiceLine
from notifications.models import Notice
from orders.models import Order
from tenants.models import Customer, Reseller

CHUNK = 2000


def _date(value) -> str | None:
    return value.isoformat() if value else None


def resellers() -> Iterator[dict]:
    for r in Reseller.objects.select_related("parent").order_by("ref"):
        yield {
            "ref": r.ref,
            "name": r.name,
            "email": r.email,
            "parent": r.parent.ref if r.parent else None,
            "allow_auto_renew": r.allow_auto_renew,
            "invoice_prefix": r.invoice_prefix,
            # Its own retry policy only (absent: it inherits; docs/dunning.md).
            **({"retry_days": r.retry_days, "last_chance_day": r.last_chance_day} if r.retry_own else {}),
        }


def categories() -> Iterator[dict]:
    for c in Category.objects.order_by("ref"):
        yield {
            "ref": c.ref,
            "name": c.name,
            "grace_days": c.grace_days,
            "auto_renew_supported": c.auto_renew_supported,
            "renewal_needs_csr": c.renewal_needs_csr,
        }


def plans() -> Iterator[dict]:
    prices: dict[int, dict[str, str]] = defaultdict(dict)
    for plan_id, months, amount, currency in PlanPrice.objects.order_by("plan_id", "months").values_list(
        "plan_id", "months", "amount", "plan__currency"
    ):
        prices[plan_id][str(months)] = format_amount(amount, currency)
    for p in Plan.objects.select_related("category").order_by("ref"):
        yield {
            "ref": p.ref,
            "name": p.name,
            "category": p.category.ref,
            "prices": prices[p.pk],
            "endless": p.endless,
            "auto_renew_allowed": p.auto_renew_allowed,
            "lead_days": p.lead_days,
            "currency": p.currency,
        }


def customers() -> Iterator[dict]:
    totals = dict(LedgerEntry.objects.values_list("account_id").annotate(total=Sum("amount")).order_by())
    rows = Customer.objects.select_related("reseller", "account", "owner_reseller").order_by("ref")
    for c in rows.iterator(chunk_size=CHUNK):
        account = c.account
        yield {
            "ref": c.ref,
            "name": c.name,
            "email": c.email,
            "reseller": c.reseller.ref,
            "balance": format_amount(account.balance, account.currency),
            "ledger_total": format_amount(totals.get(c.pk) or 0, account.currency),
            "credit_limit": format_amount(account.credit_limit, account.currency),
            "auto_renew": account.auto_renew,
            "allow_auto_renew": c.allow_auto_renew,
            "currency": account.currency,
            "stripe_customer_id": account.stripe_customer_id or None,
            "stripe_payment_method_id": account.stripe_payment_method_id or None,
            "renewal_day": account.renewal_day,
            "owner_reseller": c.owner_reseller.ref if c.owner_reseller else None,
            "retry_exempt": c.retry_exempt,
        }


def orders() -> Iterator[dict]:
    rows = Order.objects.order_by("ref").values(
        "ref", "customer__ref", "plan__ref", "customer__account__currency", *ORDER_COLUMNS, *ORDER_MONEY_COLUMNS
    )
    for o in rows.iterator(chunk_size=CHUNK):
        row = {"ref": o["ref"], "customer": o["customer__ref"], "plan": o["plan__ref"]}
        row.update({name: o[name] for name in ORDER_COLUMNS})
        row["expires_on"] = _date(row["expires_on"])
        currency = o["customer__account__currency"]
        for name in ORDER_MONEY_COLUMNS:
            row[name] = None if o[name] is None else format_amount(o[name], currency)
        yield row


def invoices() -> Iterator[dict]:
    lines = defaultdict(list)
    for line in (
        InvoiceLine.objects.order_by("invoice_id", "pk")
        .values("invoice_id", "invoice__currency", "order__ref", "months", "amount", "period_start", "period_end")
        .iterator(chunk_size=CHUNK)
    ):
        lines[line["invoice_id"]].append(
            {
                "order": line["order__ref"],
                "months": line["months"],
                "amount": format_amount(line["amount"], line["invoice__currency"]),
                "period_start": _date(line["period_start"]),
                "period_end": _date(line["period_end"]),
            }
        )
    rows = Invoice.objects.order_by("reseller_id", "sequence").values(
        "pk", "number", "customer__ref", "total", "currency", "business_date"
    )
    for inv in rows.iterator(chunk_size=CHUNK):
        yield {
            "number": inv["number"],
            "customer": inv["customer__ref"],
            "total": format_amount(inv["total"], inv["currency"]),
            "currency": inv["currency"],
            "date": _date(inv["business_date"]),
            "lines": lines.pop(inv["pk"], []),
        }


def messages() -> Iterator[dict]:
    rows = Notice.objects.order_by("business_date", "pk").values(
        "kind", "recipient", "customer__ref", "order_refs", "business_date"
    )
    for n in rows.iterator(chunk_size=CHUNK):
        yield {
            "kind": n["kind"],
            "recipient": n["recipient"],
            "customer": n["customer__ref"],
            "orders": n["order_refs"],
            "created_on": _date(n["business_date"]),
        }


SECTIONS = {
    "resellers": resellers,
    "categories": categories,
    "plans": plans,
    "customers": customers,
    "orders": orders,
    "invoices": invoices,
    "messages": messages,
}


def main_currency() -> str:
    """The file's default currency: the one most plans are priced in."""
    counts = Counter(Plan.objects.values_list("currency", flat=True))
    return counts.most_common(1)[0][0] if counts else "USD"


def portal_export_write(out: IO[str]) -> None:
    """Write the export to ``out``: valid JSON, one object per line."""
    out.write("{\n")
    out.write(f'  "format": {json.dumps(FORMAT)},\n  "currency": {json.dumps(main_currency())}')
    for name, rows in SECTIONS.items():
        out.write(f',\n  "{name}": [')
        for index, row in enumerate(rows()):
            out.write(("," if index else "") + "\n    " + json.dumps(row, ensure_ascii=False))
        out.write("\n  ]")
    out.write("\n}\n")


def portal_export() -> dict:
    """The export as a dict (tests, the API); the same rows as the file."""
    data: dict = {"format": FORMAT, "currency": main_currency()}
    data.update({name: list(rows()) for name, rows in SECTIONS.items()})
    return data
