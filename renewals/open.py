"""Open renewals (SPEC "Per-order settings, open renewals, resellers as
customers"): the renewal of an order's cycle waiting for payment, from the
night its attempt window opens, whatever its auto-renew switch. A durable
view of a due order, not a second pricing engine: its period and amount are
the quote path's (``Catalog.next_period``), and it is paid like any order
(the manual renewal, the sweep); what it says changes only here.

- ``open_renewals_sync``: each night (and each missed date the night runs),
  after the sweep, the missing ones for the orders whose window holds the
  date. What the sweep renewed that night has its own already, written
  closed by the renewal (``open_renewals_close``): opened before the sweep
  and closed by it, a row each made the whole-night bench's heavy night half
  again as long (100k orders: 20 s -> 30 s). A cancelled one whose order may be renewed again (do-not-renew
  cleared) is opened again; one left open for an order now terminated or
  marked do-not-renew (a path that writes orders without the services) is
  cancelled.
- ``open_renewals_close``: closed with the invoice by ``renewals.writer``, in
  the transaction of the renewal (sweep, manual, reseller, admin extension);
  a paid cycle that had none gets one, closed.
- ``open_renewals_cancel``: at termination (the lifecycle, an operator) and
  when the order is marked do-not-renew (``order_changed``, registered with
  ``orders.services`` in ``RenewalsConfig.ready``).
- ``open_renewals_of``: a tenant's open renewals, for the panels and the API.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from core.dates import business_today
from core.isolation import Subject, isolated
from core.models import Stage
from core.sql import ids_in, insert_from_arrays, update_from_arrays
from orders.models import Order
from orders.states import OrderStatus
from renewals.facts import ORDER_COLUMNS, Catalog, OrderRow, load_catalog
from renewals.models import OpenRenewal, OpenRenewalStatus
from renewals.rules import Period
from tenants.scope import Actor

# Accounts whose open renewals are priced and written at a time (one
# transaction each; an account that cannot be written is split out alone).
PART_ACCOUNTS = 2000
_TABLE = OpenRenewal._meta.db_table
_COLUMNS = (
    ("order_id", "bigint"), ("customer_id", "bigint"), ("cycle", "date"), ("months", "integer"),
    ("amount", "numeric"), ("currency", "text"), ("pay_by", "date"), ("status", "text"), ("created_on", "date"),
)  # fmt: skip
# Once per order and cycle (the unique constraint): a night run again, or two
# runs at once, insert nothing twice; a cancelled one is opened again (its
# order may be renewed again: the candidates say so), an open or closed one
# is left as it is.
_UPSERT = (
    f"ON CONFLICT (order_id, cycle) DO UPDATE SET status = excluded.status, months = excluded.months, "
    f"amount = excluded.amount, currency = excluded.currency, pay_by = excluded.pay_by, "
    f"created_on = excluded.created_on, closed_on = NULL, invoice_id = NULL "
    f"WHERE {_TABLE}.status = '{OpenRenewalStatus.CANCELLED}'"
)


def renewable_q() -> Q:
    """Orders that may have an open renewal: not terminated, not marked
    do-not-renew, with a paid-thru date (an endless order never renews)."""
    return Q(expires_on__isnull=False, do_not_renew=False) & ~Q(status=OrderStatus.TERMINATED)


def _candidates(orders: QuerySet, on: datetime.date, catalog: Catalog) -> QuerySet:
    """Of ``orders``, those whose window holds ``on`` with no open or closed
    renewal for their cycle yet."""
    taken = OpenRenewal.objects.filter(order_id=OuterRef("pk"), cycle=OuterRef("expires_on")).exclude(
        status=OpenRenewalStatus.CANCELLED
    )
    return orders.filter(catalog.window_q(on), renewable_q()).filter(~Exists(taken))


def open_renewals_sync(on: datetime.date, catalog: Catalog, run_id: int | None = None) -> int:
    """The open renewals of business date ``on``: one for each order whose
    window holds ``on`` and has none for its cycle (priced by
    ``Catalog.next_period``; an order whose plan no longer sells its tenure
    has none: it is renewed by hand for another period). Returns how many
    were opened.

    Set-based: one streamed query for the candidates (none at all for the
    orders that have theirs already, which is most of them after the first
    night of their window), priced in Python from the catalog, written
    ``PART_ACCOUNTS`` accounts at a time with multi-row INSERT ... ON
    CONFLICT statements."""
    _cancel_stale(on)
    _reprice(catalog)
    return _open(Order.objects.all(), on, catalog, run_id)


def _reprice(catalog: Catalog) -> int:
    """Open renewals whose amount is no longer the quote's (the plan's price
    changed since they were opened: SPEC "Money", a price change applies
    from the next renewal, which these are), priced again from the same
    quote path; one read of the open ones (a window's unpaid orders) and
    one UPDATE. Paying always quotes afresh: this keeps the listed amount
    (the renewal center, the API) the one a payment charges."""
    listed = dict(OpenRenewal.objects.filter(status=OpenRenewalStatus.OPEN).values_list("order_id", "amount"))
    if not listed:
        return 0
    rows = Order.objects.filter(ids_in("pk", sorted(listed))).values_list(*ORDER_COLUMNS, "customer__account__currency")
    changed = []
    for row in rows:
        order, currency = OrderRow(*row[:-1]), row[-1]
        if order.expires_on is None or not catalog.sells(order, currency):
            continue
        amount = catalog.next_period(order).amount
        if amount != listed[order.id]:
            changed.append((order.id, order.expires_on, amount))
    return update_from_arrays(
        _TABLE,
        (("order_id", "bigint"), ("cycle", "date"), ("amount", "numeric")),
        changed,
        set_sql="amount = v.amount",
        where_sql=(
            f"{_TABLE}.order_id = v.order_id AND {_TABLE}.cycle = v.cycle "
            f"AND {_TABLE}.status = '{OpenRenewalStatus.OPEN}'"
        ),
        key="order_id",
    )


def _open(orders: QuerySet, on: datetime.date, catalog: Catalog, run_id: int | None) -> int:
    rows = (
        _candidates(orders, on, catalog)
        .order_by("customer_id", "pk")
        .values_list(*ORDER_COLUMNS, "customer__account__currency")
    )
    # PostgreSQL streams it through a server-side cursor (materialised when it
    # opens, so the writes below cannot move it); SQLite reads it whole first.
    stream = rows.iterator(chunk_size=5000) if connection.vendor == "postgresql" else iter(list(rows))
    opened = 0
    for part in _account_parts(stream):
        opened += _write_part(part, on, catalog, run_id)
    return opened


def _account_parts(stream: Iterable[tuple]) -> Iterator[dict[int, list[tuple[OrderRow, str]]]]:
    """The streamed rows (in customer order) as parts of PART_ACCOUNTS
    accounts: {customer id: [(order row, account currency)]}."""
    part: dict[int, list[tuple[OrderRow, str]]] = defaultdict(list)
    for row in stream:
        order = OrderRow(*row[:-1])
        if order.customer_id not in part and len(part) == PART_ACCOUNTS:
            yield part
            part = defaultdict(list)
        part[order.customer_id].append((order, row[-1]))
    if part:
        yield part


def _write_part(part: dict[int, list[tuple[OrderRow, str]]], on, catalog: Catalog, run_id: int | None) -> int:
    written = 0

    def write(customer_ids: list[int]) -> None:
        nonlocal written
        values = []
        for customer_id in customer_ids:
            for order, currency in part[customer_id]:
                if not catalog.sells(order, currency):
                    continue
                period = catalog.next_period(order)
                values.append(
                    (order.id, customer_id, order.expires_on, period.months, period.amount, currency,
                     order.expires_on, OpenRenewalStatus.OPEN.value, on)
                )  # fmt: skip
        written += _upsert(values)

    isolated(
        sorted(part),
        write,
        stage=Stage.SCHEDULE,
        subject=lambda customer_id: Subject(
            key=f"open-renewals:{customer_id}",
            label=f"open renewals of account {customer_id}",
            customer_id=customer_id,
            orders=tuple(order.ref for order, _currency in part[customer_id]),
        ),
        on=on,
        run_id=run_id,
        chunk=max(1, len(part)),
    )
    return written


def _upsert(values: list[tuple]) -> int:
    return insert_from_arrays(_TABLE, _COLUMNS, values, tail=_UPSERT)


def _cancel_stale(on: datetime.date) -> int:
    """Open renewals whose order is terminated or marked do-not-renew by a
    path that bypassed the services (the importer): cancelled, as the
    services would have. One statement; the open ones are few (a window's)."""
    gone = Order.objects.filter(pk=OuterRef("order_id")).filter(Q(do_not_renew=True) | Q(status=OrderStatus.TERMINATED))
    return (
        OpenRenewal.objects.filter(status=OpenRenewalStatus.OPEN)
        .filter(Exists(gone))
        .update(status=OpenRenewalStatus.CANCELLED, closed_on=on)
    )


# A renewal paid for a cycle with no open renewal yet (the sweep renewed it
# the night its window opened, or it was renewed by hand before): written
# closed, so that every paid cycle has its renewal order; one open or
# cancelled is closed with the invoice (a cancelled one: the order was
# renewed after all, that is what happened to it).
_CLOSE = (
    f"ON CONFLICT (order_id, cycle) DO UPDATE SET status = excluded.status, closed_on = excluded.closed_on, "
    f"invoice_id = excluded.invoice_id WHERE {_TABLE}.status <> '{OpenRenewalStatus.CLOSED}'"
)


def open_renewals_close(renewed: Sequence[tuple[int, int, Period, int, bool]], on: datetime.date) -> int:
    """Close the open renewals of the cycles renewed, each given as (order id,
    customer id, period, invoice id, complimentary), on ``on``: one statement
    each way, in the renewal's transaction (renewals.writer), however the
    order was renewed (the sweep, by hand, a reseller, an operator). A paid
    cycle that had none gets one, closed (``_CLOSE``): the night an order's
    window opens, the sweep pays the auto-renewing ones, and their open
    renewals are there, closed. A complimentary extension pays nothing: it
    closes one that is there and writes none."""
    paid = [
        (order_id, customer_id, period.start, period.months, period.amount, period.currency, period.start,
         OpenRenewalStatus.CLOSED, on, on, invoice_id)
        for order_id, customer_id, period, invoice_id, complimentary in renewed
        if not complimentary
    ]  # fmt: skip
    written = insert_from_arrays(
        _TABLE, (*_COLUMNS, ("closed_on", "date"), ("invoice_id", "bigint")), paid, tail=_CLOSE
    )
    given = [
        (order_id, period.start, invoice_id, on)
        for order_id, _customer_id, period, invoice_id, complimentary in renewed
        if complimentary
    ]
    return written + update_from_arrays(
        _TABLE,
        (("order_id", "bigint"), ("cycle", "date"), ("invoice", "bigint"), ("closed", "date")),
        given,
        set_sql=f"status = '{OpenRenewalStatus.CLOSED}', closed_on = v.closed, invoice_id = v.invoice",
        where_sql=(
            f"{_TABLE}.order_id = v.order_id AND {_TABLE}.cycle = v.cycle "
            f"AND {_TABLE}.status <> '{OpenRenewalStatus.CLOSED}'"
        ),
        key="order_id",
    )


def open_renewals_cancel(order_ids: Iterable[int], on: datetime.date) -> int:
    """Cancel the open renewals of these orders (terminated, or marked
    do-not-renew) on ``on``. Returns how many."""
    ids = sorted(set(order_ids))
    if not ids:
        return 0
    return OpenRenewal.objects.filter(ids_in("order_id", ids), status=OpenRenewalStatus.OPEN).update(
        status=OpenRenewalStatus.CANCELLED, closed_on=on
    )


# An order's fields that decide its next renewal's period, price or window.
PRICING_FIELDS = frozenset({"tenure_months", "individual_price", "after_renewal", "lead_days"})


def order_changed(*, order: Order, changed: dict[str, object], actor: Actor, on: datetime.date | None = None) -> None:
    """What an order's change does to its open renewal, in the change's
    transaction (registered with orders.services in RenewalsConfig.ready):
    terminated or marked do-not-renew, it is cancelled; do-not-renew cleared
    while its window holds, it is opened again at once (or a missing one
    opened) rather than the next night; its tenure, individual price or
    auto-renew point changed, it is priced again (cancelled, then opened
    again from the quote path if its window still holds)."""
    on = on or business_today()
    if changed.get("status") == OrderStatus.TERMINATED or changed.get("do_not_renew") is True:
        open_renewals_cancel([order.pk], on)
        return
    repriced = not PRICING_FIELDS.isdisjoint(changed)
    if repriced:
        open_renewals_cancel([order.pk], on)
    if repriced or changed.get("do_not_renew") is False:
        _open(Order.objects.filter(pk=order.pk), on, load_catalog(), None)


def open_renewals_of(*, actor: Actor, status: str | None = None) -> QuerySet:
    """The actor's open renewals (a customer's, a reseller subtree's), the
    soonest to pay first, with their orders; ``status``: only those."""
    rows = OpenRenewal.objects.visible_to(actor).select_related("order")
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("pay_by", "pk")
