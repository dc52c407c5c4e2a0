"""The page benchmark's data set: one reseller with many customers, one of
them with many orders, loaded fast (COPY through core.sql.insert_rows; the
accounts and their opening balances through balances.services, the one door
for money), and the three logins the load script signs in with.

Orders are spread over the states a real portal has, so that every tab and
filter has rows: most active (some due within the month, some with
auto-renew off or do-not-renew), some suspended in grace, some terminated;
a share of customers has a failed renewal for the current cycle."""

import datetime
import random
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from balances.models import Account, EntryKind
from balances.services import Posting, account_open_many, ledger_post_many
from catalog.models import Category, Plan, PlanPrice
from core.sql import insert_rows
from logins.services import token_issue
from orders.models import Order
from renewals.models import BatchOutcome, OrderOutcome
from renewals.rules import Reason
from tenants.models import Customer, Reseller
from tenants.scope import Actor
from tenants.services import membership_link, reseller_paths_rebuild

CHUNK = 10_000  # rows per COPY: memory stays flat whatever the size
PASSWORD = "bench-pages"  # the logins exist only in a scratch database
FAILING_SHARE = 0.2  # of the orders due within a week: their renewal failed for the current cycle
REASON = Reason.INSUFFICIENT_FUNDS.value


@dataclass(frozen=True)
class DataSet:
    tag: str
    reseller_id: int
    big_customer_id: int
    customers: int
    orders: int
    customer_login: str
    reseller_login: str
    password: str
    customer_token: str
    reseller_token: str


def _chunks(rows, size=CHUNK):
    rows = iter(rows)
    while batch := list(islice(rows, size)):
        yield batch


def _order_state(rng: random.Random, on: datetime.date) -> tuple:
    """(status, expires_on, auto_renew, do_not_renew) in realistic shares."""
    roll = rng.random()
    if roll < 0.10:  # suspended, in grace
        return "suspended", on - datetime.timedelta(days=rng.randint(1, 14)), True, False
    if roll < 0.25:  # terminated: history
        return "terminated", on - datetime.timedelta(days=rng.randint(30, 400)), False, False
    expires = on + datetime.timedelta(days=rng.randint(0, 365))
    return "active", expires, rng.random() < 0.7, rng.random() < 0.05


def build(*, customers: int, big_orders: int, orders_each: int, seed: int, on: datetime.date) -> DataSet:
    """Build the data set in the configured database; returns its logins."""
    rng = random.Random(seed)
    tag = f"pb{seed}-{timezone.now():%m%d%H%M%S%f}"
    actor = Actor.system("bench_pages")
    with transaction.atomic():
        hosting, _ = Category.objects.get_or_create(
            ref="bench-pages-hosting", defaults={"name": "Bench hosting", "grace_days": 15}
        )
        plans = []
        for n, months in enumerate((1, 12)):
            plan = Plan.objects.create(ref=f"{tag}-plan{n}", name=f"Bench plan {n}", category=hosting)
            PlanPrice.objects.create(plan=plan, months=months, amount=Decimal("10.00") * months)
            plans.append((plan.pk, months))
        reseller = Reseller.objects.create(ref=tag, name=f"Bench {tag}", invoice_prefix=tag[-12:].upper())
        reseller_paths_rebuild()
        now = timezone.now()
        customer_ids = []
        for batch in _chunks(range(customers)):
            customer_ids += [
                row[0]
                for row in insert_rows(
                    Customer,
                    ("ref", "name", "email", "reseller_id", "allow_auto_renew", "created_at"),
                    [(f"{tag}-c{i}", f"Customer {i:05d}", f"c{i}@bench.test", reseller.pk, True, now) for i in batch],
                    returning=("id",),
                )
            ]
        for batch in _chunks(customer_ids, 900):
            account_open_many(accounts=[Account(customer_id=pk, currency="USD") for pk in batch])
        for batch in _chunks(customer_ids):
            # Balances from nothing to enough for a few renewals: the auto tab's "funds cover" varies.
            postings = [Posting(pk, Decimal(rng.randint(1, 300)), EntryKind.OPENING, "USD") for pk in batch]
            ledger_post_many(actor=actor, postings=postings, business_date=on)
        big = customer_ids[0]

        def order_rows():
            n = 0
            for customer_id in customer_ids:
                for _ in range(big_orders if customer_id == big else orders_each):
                    status, expires, auto, dnr = _order_state(rng, on)
                    plan_id, months = plans[rng.random() < 0.3]
                    n += 1
                    yield (f"{tag}-o{n}", customer_id, plan_id, months, expires, expires.day, status, auto, False,
                           "balance", False, False, False, dnr, now, now)  # fmt: skip

        columns = ("ref", "customer_id", "plan_id", "tenure_months", "expires_on", "anchor_day", "status",
                   "auto_renew", "auto_renew_locked", "payment_source", "locked", "stopped", "pending_action",
                   "do_not_renew", "created_at", "updated_at")  # fmt: skip
        orders = 0
        failing = []
        for batch in _chunks(order_rows()):
            sent = {row[0]: row for row in batch}
            for pk, ref in insert_rows(Order, columns, batch, returning=("id", "ref")):
                orders += 1
                status, expires = sent[ref][6], sent[ref][4]
                if status == "active" and expires <= on + datetime.timedelta(days=7) and rng.random() < FAILING_SHARE:
                    failing.append((pk, on, expires, BatchOutcome.FAILED.value, REASON, expires))
        for batch in _chunks(failing):
            insert_rows(OrderOutcome, ("order_id", "business_date", "cycle", "outcome", "reason", "expires_on"), batch)
        logins = _logins(tag, big, reseller)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return DataSet(
        tag=tag,
        reseller_id=reseller.pk,
        big_customer_id=big,
        customers=customers,
        orders=orders,
        password=PASSWORD,
        **logins,
    )


def _logins(tag: str, big_customer_id: int, reseller: Reseller) -> dict:
    """A login for the big customer and one for the reseller's staff, each
    with an API token (logins.services, as the token page issues them)."""
    users = get_user_model().objects
    customer_user = users.create_user(username=f"{tag}-customer", password=PASSWORD)
    membership_link(user=customer_user, customer=Customer.objects.get(pk=big_customer_id))
    reseller_user = users.create_user(username=f"{tag}-reseller", password=PASSWORD)
    membership_link(user=reseller_user, reseller=reseller)
    return {
        "customer_login": customer_user.username,
        "reseller_login": reseller_user.username,
        "customer_token": token_issue(user=customer_user),
        "reseller_token": token_issue(user=reseller_user),
    }


def existing(tag: str) -> DataSet:
    """A data set built before (by its tag), with new API tokens for its logins."""
    reseller = Reseller.objects.filter(ref=tag).first()
    if reseller is None:
        raise LookupError(f"no page benchmark data set {tag!r} in this database")
    users = get_user_model().objects
    customer_user = users.get(username=f"{tag}-customer")
    reseller_user = users.get(username=f"{tag}-reseller")
    customers = Customer.objects.filter(reseller=reseller)
    return DataSet(
        tag=tag,
        reseller_id=reseller.pk,
        big_customer_id=customer_user.membership.customer_id,
        customers=customers.count(),
        orders=Order.objects.filter(customer__reseller=reseller).count(),
        customer_login=customer_user.username,
        reseller_login=reseller_user.username,
        password=PASSWORD,
        customer_token=token_issue(user=customer_user),
        reseller_token=token_issue(user=reseller_user),
    )
