"""The money invariants, checked over the whole database. Tests run them after
every scenario; operators can run ``manage.py check_invariants``."""

from django.db.models import F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from balances.models import Account, LedgerEntry
from core.money import MoneyField, format_amount
from invoices.models import Invoice, InvoiceLine


def _sum_of(model, link: str, outer: str = "pk"):
    rows = (
        model.objects.filter(**{link: OuterRef(outer)})
        .order_by()
        .values(link)
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Coalesce(Subquery(rows, output_field=MoneyField()), Value(0), output_field=MoneyField())


def invariant_violations(limit: int = 20) -> list[str]:
    """Every broken invariant, in words (empty: all hold)."""
    problems = []
    accounts = (
        Account.objects.annotate(ledger_total=_sum_of(LedgerEntry, "account_id"))
        .exclude(balance=F("ledger_total"))
        .select_related("customer")[:limit]
    )
    problems += [
        f"account {a.customer.ref}: balance {format_amount(a.balance)} != ledger total {format_amount(a.ledger_total)}"
        for a in accounts
    ]
    problems += [
        f"account {a.customer.ref}: balance {format_amount(a.balance)} is below -{format_amount(a.credit_limit)}"
        for a in Account.objects.filter(balance__lt=-F("credit_limit")).select_related("customer")[:limit]
    ]
    invoices = Invoice.objects.annotate(lines_total=_sum_of(InvoiceLine, "invoice_id")).exclude(total=F("lines_total"))[
        :limit
    ]
    problems += [
        f"invoice {i.number}: total {format_amount(i.total)} != sum of lines {format_amount(i.lines_total)}"
        for i in invoices
    ]
    from orders.models import Order
    from payments.models import AttemptState, PaymentAttempt

    # What accounts hold is exactly what card payments in flight reserved.
    open_holds = (
        PaymentAttempt.objects.filter(account_id=OuterRef("pk"), state__in=[AttemptState.PENDING, AttemptState.UNKNOWN])
        .order_by()
        .values("account_id")
        .annotate(total=Sum("hold"))
        .values("total")
    )
    holds = Coalesce(Subquery(open_holds, output_field=MoneyField()), Value(0), output_field=MoneyField())
    problems += [
        f"account {a.customer.ref}: holds {format_amount(a.held)} but open card payments reserve "
        f"{format_amount(a.reserved)}"
        for a in Account.objects.annotate(reserved=holds).exclude(held=F("reserved")).select_related("customer")[:limit]
    ]

    # Every extension is a paid invoice line (the renewal record, unique per
    # order and cycle): an order renewed at least once is paid thru the end of
    # its latest line.
    latest = InvoiceLine.objects.filter(order_id=OuterRef("pk")).order_by("-period_end").values("period_end")[:1]
    drifted = (
        Order.objects.filter(invoice_lines__isnull=False)
        .annotate(latest_end=Subquery(latest))
        .exclude(expires_on=F("latest_end"))
        .distinct()[:limit]
    )
    problems += [f"order {o.ref}: paid thru {o.expires_on} but its last renewal ends {o.latest_end}" for o in drifted]
    return problems
