"""A synthetic portal for the sweep benchmark, loaded fast: COPY on
PostgreSQL, executemany on SQLite, in chunks so memory stays flat; and the
count of the statements the benchmarked code sends."""

import csv
import datetime
import io
import json
import multiprocessing
import random
import resource
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from django.core.management.base import CommandError
from django.db import connection, connections
from django.db.backends.signals import connection_created
from django.db.models import Max
from django.utils import timezone

from balances.models import Account, LedgerEntry
from catalog.models import Category, Plan, PlanPrice
from orders.models import Order
from tenants.models import Customer, Reseller
from tenants.services import reseller_paths_rebuild

CHUNK = 20_000
BALANCE = Decimal("100.00")
PRICE = Decimal("10.00")


def _load(model, columns: list[str], rows: Iterable[tuple]) -> int:
    """Insert rows (tuples in ``columns`` order) into ``model``'s table."""
    table = model._meta.db_table
    count = 0
    batch: list[tuple] = []

    def flush():
        nonlocal batch
        if not batch:
            return
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                buffer = io.StringIO()
                csv.writer(buffer).writerows(batch)
                buffer.seek(0)
                cursor.copy_expert(
                    f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer
                )
            else:
                marks = ", ".join(["%s"] * len(columns))
                cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", batch)
        batch = []

    for row in rows:
        batch.append(row)
        count += 1
        if len(batch) >= CHUNK:
            flush()
    flush()
    if connection.vendor == "postgresql" and "id" in columns:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
    return count


def _next_id(model) -> int:
    return (model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1


def load_seller(tag: str, category, customer_ids: range, now, *, email_domain: str = "") -> Plan:
    """The benchmark's reseller (tagged ``tag``), its plan in ``category`` (1
    month at PRICE, returned) and its customers ``customer_ids``, with mail
    addresses at ``email_domain`` (none when it is empty)."""
    plan = Plan.objects.create(ref=f"{tag}-plan", name="Bench plan", category=category)
    PlanPrice.objects.create(plan=plan, months=1, amount=PRICE)
    reseller = Reseller.objects.create(
        ref=tag,
        name=f"Bench {tag}",
        email=f"billing@{email_domain}" if email_domain else "",
        invoice_prefix=tag[-12:].upper().replace("-", ""),
    )
    reseller_paths_rebuild()
    _load(
        Customer,
        ["id", "ref", "name", "email", "reseller_id", "allow_auto_renew", "retry_exempt", "created_at"],
        ((i, f"{tag}-c{i}", f"Customer {i}", f"c{i}@{email_domain}" if email_domain else "", reseller.pk, True,
          False, now)
         for i in customer_ids),
    )  # fmt: skip
    return plan


def load_accounts(rows: Callable[[], Iterable[tuple[int, Decimal]]], *, on: datetime.date, now) -> None:
    """The accounts of ``rows()`` ((customer id, balance); read twice, so
    that nothing is held), in USD with auto-renew on, each with a balance
    getting its opening ledger entry."""
    _load(
        Account,
        ["customer_id", "currency", "credit_limit", "balance", "held", "auto_renew", "stripe_customer_id",
         "stripe_payment_method_id", "updated_at"],
        ((i, "USD", Decimal("0.00"), balance, Decimal("0.00"), True, "", "", now) for i, balance in rows()),
    )  # fmt: skip
    first_entry = _next_id(LedgerEntry)
    _load(
        LedgerEntry,
        ["id", "account_id", "kind", "amount", "balance_after", "business_date", "created_at", "reference", "memo",
         "actor_label"],
        ((first_entry + n, i, "opening", balance, balance, on, now, "", "bench", "bench")
         for n, (i, balance) in enumerate((i, b) for i, b in rows() if b)),
    )  # fmt: skip


def build_portal(*, orders: int, due_fraction: float, seed: int, on: datetime.date) -> dict:
    """Accounts with 3 orders each (balance-paid, auto-renew on); a share
    ``due_fraction`` of the orders is due on ``on``, the rest much later."""
    rng = random.Random(seed)
    tag = f"b{seed}-{timezone.now():%H%M%S%f}"
    category, _ = Category.objects.get_or_create(ref="bench-hosting", defaults={"name": "Bench", "grace_days": 15})
    accounts = (orders + 2) // 3
    first_customer = _next_id(Customer)
    now = timezone.now()
    customer_ids = range(first_customer, first_customer + accounts)
    plan = load_seller(tag, category, customer_ids, now)
    load_accounts(lambda: ((i, BALANCE) for i in customer_ids), on=on, now=now)
    first_order = _next_id(Order)

    def order_rows() -> Iterator[tuple]:
        for n in range(orders):
            due = rng.random() < due_fraction
            expires = on + datetime.timedelta(days=rng.randint(0, 7) if due else rng.randint(60, 300))
            yield (
                first_order + n, f"{tag}-o{n}", first_customer + n // 3, plan.pk, 1, expires, expires.day,
                "active", True, False, "balance", False, False, False, False, now, now,
            )  # fmt: skip

    _load(
        Order,
        ["id", "ref", "customer_id", "plan_id", "tenure_months", "expires_on", "anchor_day", "status", "auto_renew",
         "auto_renew_locked", "payment_source", "locked", "stopped", "pending_action", "do_not_renew",
         "created_at", "updated_at"],
        order_rows(),
    )  # fmt: skip
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {"orders": orders, "accounts": accounts, "tag": tag}


def peak_rss_mb() -> float:
    """The largest resident size so far of this process or a child it waited
    for (the sweep's worker processes), in MB."""
    return round(
        max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024, 1
    )


def figures_write(command, figures: dict, problems: list[str], *, as_json: bool, build_seconds: float) -> None:
    """A benchmark command's output: its figures (one JSON object, or a line),
    then each broken invariant, and exit status 1 if there is one."""
    if as_json:
        command.stdout.write(json.dumps(figures))
    else:
        command.stdout.write(f"built in {build_seconds:.1f} s; " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    for problem in problems:
        command.stderr.write(problem)
    if problems:
        raise CommandError("invariants broken", returncode=1)


@dataclass(frozen=True)
class StatementCount:
    """Counters in shared memory, so that the sweep's worker processes add to
    them too."""

    executed: object  # multiprocessing.Value("q")
    copied: object

    @property
    def total(self) -> int:
        return self.executed.value + self.copied.value


def _add_one(counter) -> None:
    with counter.get_lock():
        counter.value += 1


def _counting_cursor(copied):
    """A psycopg2 cursor that counts its COPY statements: COPY goes past
    Django's execute wrappers (core.sql.insert_rows sends it with
    ``copy_expert``), so the benchmark counts it at the driver instead of the
    production code carrying a hook for it."""
    from psycopg2.extensions import cursor

    class CountingCursor(cursor):
        def copy_expert(self, sql, file, *args, **kwargs):
            _add_one(copied)
            return super().copy_expert(sql, file, *args, **kwargs)

    return CountingCursor


@contextmanager
def statements_counted() -> Iterator[StatementCount]:
    """Count every statement sent meanwhile on every connection: this
    process's, its threads' and the sweep's forked worker processes' (hooked
    into each connection as it is created). Statements go through Django's
    execute wrappers; COPY through a counting cursor on PostgreSQL."""
    count = StatementCount(executed=multiprocessing.Value("q", 0), copied=multiprocessing.Value("q", 0))
    counting_cursor = _counting_cursor(count.copied) if connection.vendor == "postgresql" else None
    hooked: list[tuple] = []  # (Django connection, the driver's cursor factory before)

    def execute(execute, sql, params, many, context):
        _add_one(count.executed)
        return execute(sql, params, many, context)

    def hook(conn) -> None:
        if execute not in conn.execute_wrappers:  # a reconnect reuses the wrapper object
            conn.execute_wrappers.append(execute)
        if counting_cursor is not None and conn.connection is not None:
            hooked.append((conn, conn.connection.cursor_factory))
            conn.connection.cursor_factory = counting_cursor

    def created(sender, connection, **kwargs):
        hook(connection)

    connection_created.connect(created)
    for conn in connections.all(initialized_only=True):
        hook(conn)
    try:
        yield count
    finally:
        connection_created.disconnect(created)
        for conn in connections.all(initialized_only=True):
            if execute in conn.execute_wrappers:
                conn.execute_wrappers.remove(execute)
        for conn, factory in hooked:
            if conn.connection is not None and conn.connection.cursor_factory is counting_cursor:
                conn.connection.cursor_factory = factory
