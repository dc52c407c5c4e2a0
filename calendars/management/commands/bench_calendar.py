"""Time a reseller's renewal calendar over a large subtree: loads a
synthetic reseller (and a sub-reseller) whose customers hold ``--orders``
orders expiring over the feed's 90 days, then builds its feed (the orders
read, decided and rendered as iCalendar) capped as served, and with
``--uncapped`` whole.
Prints numbers, asserts nothing. Run it on a scratch database: it adds rows.

    manage.py bench_calendar --orders 100000
"""

import datetime
import random
import time

from django.core.management.base import BaseCommand
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from calendars import selectors
from calendars.ics import feed_ics
from calendars.models import Feed
from catalog.models import Category, Plan, PlanPrice
from core.dates import business_today
from orders.models import Order
from renewals.bench import BALANCE, PRICE, _load, _next_id, load_accounts, peak_rss_mb
from tenants.models import Customer, Reseller
from tenants.services import reseller_paths_rebuild

ORDERS_PER_CUSTOMER = 4


class Command(BaseCommand):
    help = "Time a reseller's renewal calendar (iCal feed) over many orders; prints numbers."

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=100_000)
        parser.add_argument("--seed", type=int, default=17)
        parser.add_argument("--uncapped", action="store_true", help="also build it whole (slow: minutes at 100k)")

    def handle(self, *args, orders: int, seed: int, uncapped: bool, **options):
        on = business_today()
        started = time.perf_counter()
        feed = self._portal(orders, seed, on)
        self.stdout.write(f"loaded {orders} orders in {time.perf_counter() - started:.1f} s")
        self._time("capped (as served)", feed, on)
        if uncapped:
            cap = selectors.MAX_ORDERS
            selectors.MAX_ORDERS = orders
            try:
                self._time("uncapped", feed, on)
            finally:
                selectors.MAX_ORDERS = cap
        self.stdout.write(f"peak RSS {peak_rss_mb()} MB")

    def _time(self, label: str, feed: Feed, on: datetime.date) -> None:
        feed = Feed.objects.select_related("customer", "reseller").get(pk=feed.pk)
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            content = selectors.feed_content(feed=feed, host="bench.test", on=on)
            decided = time.perf_counter()
            body = feed_ics(content)
            done = time.perf_counter()
        self.stdout.write(
            f"{label}: {len(content.events)} events ({'capped' if content.capped else 'whole'}), "
            f"{len(queries)} queries, read and decided in {decided - started:.2f} s, "
            f"rendered in {done - decided:.2f} s, {len(body) / 1e6:.1f} MB"
        )

    def _portal(self, orders: int, seed: int, on: datetime.date) -> Feed:
        rng = random.Random(seed)
        now = timezone.now()
        tag = f"cal{seed}-{now:%H%M%S}"
        category, _ = Category.objects.get_or_create(ref="bench-hosting", defaults={"name": "Bench", "grace_days": 15})
        accounts = (orders + ORDERS_PER_CUSTOMER - 1) // ORDERS_PER_CUSTOMER
        first_customer = _next_id(Customer)
        customer_ids = range(first_customer, first_customer + accounts)
        plan = Plan.objects.create(ref=f"{tag}-plan", name="Bench plan", category=category)
        PlanPrice.objects.create(plan=plan, months=1, amount=PRICE)
        top = Reseller.objects.create(ref=tag, name=f"Bench {tag}", invoice_prefix=tag[-12:].upper().replace("-", ""))
        sub = Reseller.objects.create(
            ref=f"{tag}-sub",
            name=f"Bench {tag} sub",
            parent=top,
            invoice_prefix=f"S{tag[-11:]}".upper().replace("-", ""),
        )
        reseller_paths_rebuild()
        # Half the customers are the sub-reseller's: the feed reads the subtree.
        _load(
            Customer,
            ["id", "ref", "name", "email", "reseller_id", "allow_auto_renew", "retry_exempt", "created_at"],
            ((i, f"{tag}-c{i}", f"Customer {i}", "", top.pk if i % 2 else sub.pk, True, False, now)
             for i in customer_ids),
        )  # fmt: skip
        load_accounts(lambda: ((i, BALANCE) for i in customer_ids), on=on, now=now)
        first_order = _next_id(Order)

        def rows():
            for n in range(orders):
                expires = on + datetime.timedelta(days=rng.randint(0, selectors.RESELLER_HORIZON_DAYS))
                # A tenth with auto-renew off: their expiry says why.
                auto = rng.random() >= 0.1
                yield (
                    first_order + n, f"{tag}-o{n}", first_customer + n // ORDERS_PER_CUSTOMER, plan.pk, 1, expires,
                    expires.day, "active", auto, False, "balance", False, False, False, False, now, now,
                )  # fmt: skip

        _load(
            Order,
            ["id", "ref", "customer_id", "plan_id", "tenure_months", "expires_on", "anchor_day", "status",
             "auto_renew", "auto_renew_locked", "payment_source", "locked", "stopped", "pending_action",
             "do_not_renew", "created_at", "updated_at"],
            rows(),
        )  # fmt: skip
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        return Feed.objects.create(reseller=top, secret=f"bench-{tag}-" + "x" * 32)
