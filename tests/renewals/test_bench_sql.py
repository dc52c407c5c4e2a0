"""The benchmark's yardstick (renewals.bench_sql) does the sweep's work: on
two portals built alike, the hand-written SQL and the real sweep leave the
same orders, invoices, ledger and (with its records) attempts and notices."""

import datetime
import io
import json
from collections import Counter

import pytest
from django.core.management import call_command

from balances.models import Account, LedgerEntry
from invoices.models import Invoice, InvoiceLine
from notifications.models import Notice
from orders.models import Order
from renewals.bench import build_portal
from renewals.bench_sql import hand_sweep
from renewals.invariants import invariant_violations
from renewals.models import BatchAttempt
from renewals.sweep.run import sweep_run

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ON = datetime.date(2026, 12, 1)


def outcome(tag: str) -> dict:
    """What the night left in one portal, by the order's and the customer's
    place in it (ids differ between the two portals)."""
    orders = Order.objects.filter(ref__startswith=tag).order_by("pk")
    first_order = orders.first().pk
    customers = sorted(set(orders.values_list("customer_id", flat=True)))
    place = {pk: n for n, pk in enumerate(customers)}
    lines = InvoiceLine.objects.filter(order__in=orders)
    return {
        "orders": [(o.pk - first_order, o.expires_on, o.anchor_day, o.status) for o in orders],
        "lines": sorted(
            (
                line.order_id - first_order,
                line.period_start,
                line.period_end,
                line.months,
                line.amount,
                line.description,
            )
            for line in lines
        ),  # fmt: skip
        "invoices": sorted(
            (place[i.customer_id], i.total, i.sequence, i.source)
            for i in Invoice.objects.filter(customer__in=customers)
        ),
        "balances": sorted((place[a.pk], a.balance) for a in Account.objects.filter(pk__in=customers)),
        "ledger": sorted(
            (place[e.account_id], e.kind, e.amount, e.balance_after, e.memo)
            for e in LedgerEntry.objects.filter(account__in=customers)
        ),
        "attempts": sorted(
            (place[a.customer_id], a.outcome, a.total) for a in BatchAttempt.objects.filter(customer__in=customers)
        ),
        "notices": Counter(Notice.objects.filter(customer__in=customers).values_list("kind", flat=True)),
    }


def test_the_hand_written_sql_leaves_what_the_sweep_leaves():
    by_sql = build_portal(orders=300, due_fraction=0.8, seed=7, on=ON)["tag"]
    renewed = Order.objects.filter(ref__startswith=by_sql, invoice_lines__isnull=False)
    assert hand_sweep(on=ON, records=True) == {
        "accounts": renewed.values("customer_id").distinct().count(),
        "orders": renewed.count(),
    }
    by_sweep = build_portal(orders=300, due_fraction=0.8, seed=7, on=ON)["tag"]
    sweep_run(on=ON, build_report=False)
    assert invariant_violations() == []
    assert outcome(by_sql) == outcome(by_sweep)


def test_bench_sweep_runs_the_yardstick():
    out = io.StringIO()
    call_command("bench_sweep", "--orders", "300", "--date", "2026-12-01", "--json", "--hand-sql", "bare", stdout=out)
    figures = json.loads(out.getvalue())
    assert (figures["renewed"], figures["invariants_ok"]) == (300, True)
    assert figures["queries"] < 20  # a handful of statements per batch
