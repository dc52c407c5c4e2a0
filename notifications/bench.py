"""A night's outbox for ``bench_notices``: customers of one white-label
reseller, each with a paid invoice of two orders (its ``renewal_succeeded``
and ``renewal_completed`` notices render their table from it) and an advance
notice for the next cycle, written as the nightly run writes them
(``notices_create``). Then the real delivery, until nothing is due."""

import datetime
import multiprocessing
import time
from decimal import Decimal

from catalog.models import Category, Plan
from invoices.models import Invoice, InvoiceLine, RenewalSource
from notifications.content import money, order_row
from notifications.models import NoticeKind
from notifications.services import NoticeSpec, notices_create
from orders.models import Order
from tenants.models import Customer, Reseller
from tenants.services import reseller_paths_rebuild

PRICE = Decimal("10.00")
ORDERS_PER_CUSTOMER = 2
CHUNK = 2_000


def build_outbox(notices: int, *, on: datetime.date) -> dict:
    """``notices`` pending notices (three per customer: paid, completed,
    advance notice), with the rows they render from."""
    tag = f"n{time.time_ns() % 10**11}"
    top = Reseller.objects.create(
        ref=f"{tag}-top", name="Bench Platform", email="top@bench.test", invoice_prefix=f"T{tag[-10:]}"
    )
    reseller = Reseller.objects.create(
        ref=tag, name="Bench Hosting & Co", email="billing@bench.test", parent=top, invoice_prefix=f"B{tag[-10:]}"
    )
    reseller_paths_rebuild()
    category, _ = Category.objects.get_or_create(ref="bench-notices", defaults={"name": "Hosting", "grace_days": 15})
    plan = Plan.objects.create(ref=f"{tag}-plan", name="Basic", category=category)
    customers = -(-notices // 3)
    written = 0
    for start in range(0, customers, CHUNK):
        count = min(CHUNK, customers - start)
        written += _write_chunk(tag, reseller, plan, start, count, on, limit=notices - written)
    return {"notices": written, "customers": customers, "reseller_id": reseller.pk, "tag": tag}


def _write_chunk(tag, reseller, plan, start, count, on, *, limit) -> int:
    people = Customer.objects.bulk_create(
        Customer(ref=f"{tag}-c{n}", name=f"Customer {n} <{tag}>", email=f"c{n}.{tag}@bench.test", reseller=reseller)
        for n in range(start, start + count)
    )
    paid_thru = on + datetime.timedelta(days=5)
    orders = Order.objects.bulk_create(
        Order(
            ref=f"{tag}-o{c.pk}-{k}", customer=c, plan=plan, tenure_months=1, expires_on=paid_thru,
            anchor_day=paid_thru.day, auto_renew=True,
        )
        for c in people
        for k in range(ORDERS_PER_CUSTOMER)
    )  # fmt: skip
    previous = paid_thru - datetime.timedelta(days=30)
    total = PRICE * ORDERS_PER_CUSTOMER
    invoices = Invoice.objects.bulk_create(
        Invoice(
            number=f"{reseller.invoice_prefix}-{start + n + 1}", reseller=reseller, sequence=start + n + 1,
            customer=c, currency="USD", total=total, business_date=on, source=RenewalSource.AUTOMATIC,
            created_by="bench_notices",
        )
        for n, c in enumerate(people)
    )  # fmt: skip
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoices[n // ORDERS_PER_CUSTOMER], order=o, description="Basic, 1 month(s)",
            period_start=previous, period_end=paid_thru, months=1, amount=PRICE,
        )
        for n, o in enumerate(orders)
    )  # fmt: skip
    specs = []
    for n, customer in enumerate(people):
        mine = orders[n * ORDERS_PER_CUSTOMER : (n + 1) * ORDERS_PER_CUSTOMER]
        refs = [o.ref for o in mine]
        common = {
            "customer_id": customer.pk, "reseller_id": reseller.pk, "recipient": customer.email,
            "business_date": on, "order_refs": refs,
        }  # fmt: skip
        invoice = invoices[n]
        for kind in (NoticeKind.RENEWAL_SUCCEEDED, NoticeKind.RENEWAL_COMPLETED):
            specs.append(
                NoticeSpec(kind=kind, subject_key=f"invoice:{invoice.pk}", cycle=on.isoformat(),
                           data={"invoice_id": invoice.pk}, **common)
            )  # fmt: skip
        next_end = paid_thru + datetime.timedelta(days=31)
        rows = [order_row(o.ref, "Basic, 1 month(s)", paid_thru, start=paid_thru, end=next_end,
                          amount=money(PRICE, "USD")) for o in mine]  # fmt: skip
        attempt_on = paid_thru - datetime.timedelta(days=4)
        data = {"orders": rows, "total": money(total, "USD"), "attempt_on": attempt_on.isoformat(),
                "available": money(Decimal("100.00"), "USD"), "short": ""}  # fmt: skip
        specs.append(
            NoticeSpec(kind=NoticeKind.ADVANCE_NOTICE, subject_key=f"account:{customer.pk}",
                       cycle=attempt_on.isoformat(), data=data, **common)
        )  # fmt: skip
    specs = specs[:limit]
    notices_create(specs, new=True)
    return len(specs)


def deliver_all(deliver) -> dict:
    """Call ``deliver()`` (the real delivery pass) until nothing is left that
    it can take: each pass takes what is due, a failed notice waits for its
    retry time. Returns the summed counts and the passes made."""
    totals: dict = {"passes": 0}
    while True:
        counts = deliver()
        totals["passes"] += 1
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
        if not sum(counts.get(k, 0) for k in ("sent", "failed", "panel_only")):
            return totals


def _worker(_: int) -> dict:
    from notifications.delivery import deliver_pending

    return deliver_all(deliver_pending)


def deliver_in_processes(workers: int) -> dict:
    """``deliver_all`` in ``workers`` processes at once, as that many Celery
    worker processes on the notices queue would: each claims its own
    batches. Returns the counts summed."""
    from django.db import connections

    connections.close_all()  # each process opens its own
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        results = pool.map(_worker, range(workers))
    totals: dict = {}
    for counts in results:
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
    return totals
