"""The money invariants, checked over the whole database. Tests run them after
every scenario; operators can run ``manage.py check_invariants``; the sweep's
benchmark checks them after its run.

They read balances, invoices, orders and payments together, so they live in
the lowest layer that sees all four (renewals), not in core."""

from django.db.models import F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Round

from balances.models import PROCESSOR_KINDS, Account, LedgerEntry
from core.fields import MoneyField
from core.money import STORED_PLACES, exponent, format_amount
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
        f"account {a.customer.ref}: balance {_shown(a.balance, a.currency)} != ledger total "
        f"{_shown(a.ledger_total, a.currency)}"
        for a in accounts
    ]
    # Below the credit limit only by what the card processor took (refunds,
    # disputes: the account then owes), and never by more than it took.
    problems += [
        f"account {a.customer.ref}: balance {_shown(a.balance, a.currency)} is below "
        f"-{_shown(a.credit_limit, a.currency)}"
        + (f" by more than the processor took ({_shown(a.overdrawn, a.currency)})" if a.overdrawn else "")
        for a in Account.objects.filter(balance__lt=-F("credit_limit") - F("overdrawn")).select_related("customer")[
            :limit
        ]
    ]
    taken = (
        LedgerEntry.objects.filter(account_id=OuterRef("pk"), kind__in=PROCESSOR_KINDS, amount__lt=0)
        .order_by()
        .values("account_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    processor_took = Coalesce(Subquery(taken, output_field=MoneyField()), Value(0), output_field=MoneyField())
    problems += [
        f"account {a.customer.ref}: overdrawn {_shown(a.overdrawn, a.currency)} but the processor took only "
        f"{_shown(-a.took, a.currency)}"
        for a in Account.objects.filter(overdrawn__gt=0)
        .annotate(took=processor_took)
        .filter(overdrawn__gt=-F("took"))
        .select_related("customer")[:limit]
    ]
    invoices = Invoice.objects.annotate(lines_total=_sum_of(InvoiceLine, "invoice_id")).exclude(total=F("lines_total"))[
        :limit
    ]
    problems += [
        f"invoice {i.number}: total {_shown(i.total, i.currency)} != sum of lines {_shown(i.lines_total, i.currency)}"
        for i in invoices
    ]
    from orders.models import Order
    from payments.models import AttemptState, ProcessorMovement
    from renewals.models import RenewalPayment

    # What accounts hold is exactly what card payments and admins' refunds in
    # flight reserved.
    open_holds = (
        RenewalPayment.objects.filter(
            attempt__account_id=OuterRef("pk"), attempt__state__in=[AttemptState.PENDING, AttemptState.UNKNOWN]
        )
        .order_by()
        .values("attempt__account_id")
        .annotate(total=Sum("hold"))
        .values("total")
    )
    open_refunds = (
        ProcessorMovement.objects.filter(
            account_id=OuterRef("pk"), state__in=[AttemptState.PENDING, AttemptState.UNKNOWN]
        )
        .order_by()
        .values("account_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    holds = Coalesce(Subquery(open_holds, output_field=MoneyField()), Value(0), output_field=MoneyField()) + Coalesce(
        Subquery(open_refunds, output_field=MoneyField()), Value(0), output_field=MoneyField()
    )
    problems += [
        f"account {a.customer.ref}: holds {_shown(a.held, a.currency)} but open card payments and refunds reserve "
        f"{_shown(a.reserved, a.currency)}"
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
    problems += _finer_than_the_unit(limit)
    return problems


def _shown(amount, currency: str) -> str:
    """An amount in a problem's sentence: its currency's places, or all of
    them when the amount is finer (that may be the problem)."""
    return str(amount) if amount != round(amount, exponent(currency)) else format_amount(amount, currency)


def _finer_than_the_unit(limit: int) -> list[str]:
    """Amounts kept to their currency's minor unit (SPEC "Money"): the columns
    hold three places, so a yen or a cent amount with more is a bug of the
    code that wrote it. One query per table and currency in use."""
    from payments.models import PaymentAttempt
    from renewals.models import RenewalPayment

    problems = []
    for currency in sorted(set(Account.objects.values_list("currency", flat=True).distinct())):
        try:
            places = exponent(currency)
        except ValueError:
            problems.append(f"accounts in {currency}: not an ISO 4217 currency the portal keeps")
            continue
        if places >= STORED_PLACES:
            continue
        tables = [
            (Account.objects.filter(currency=currency), ("balance", "credit_limit", "held"), "customer__ref"),
            (LedgerEntry.objects.filter(account__currency=currency), ("amount", "balance_after"), "pk"),
            (Invoice.objects.filter(currency=currency), ("total",), "number"),
            (InvoiceLine.objects.filter(invoice__currency=currency), ("amount",), "pk"),
            (PaymentAttempt.objects.filter(currency=currency), ("amount",), "pk"),
            (RenewalPayment.objects.filter(attempt__currency=currency), ("hold",), "pk"),
        ]
        for queryset, columns, name in tables:
            # Each column rounded to the currency's places against the same
            # column rounded to the stored ones, not the column itself: SQLite
            # keeps decimals as floats, whose sums drift in the last bits.
            rounded, finer = {}, Q()
            for column in columns:
                rounded[f"{column}_unit"] = Round(column, places)
                rounded[f"{column}_stored"] = Round(column, STORED_PLACES)
                finer |= ~Q(**{f"{column}_unit": F(f"{column}_stored")})
            for key in queryset.annotate(**rounded).filter(finer).values_list(name, flat=True)[:limit]:
                problems.append(
                    f"{queryset.model._meta.verbose_name} {key}: an amount finer than {currency}'s minor unit"
                )
    return problems
