import datetime
import resource
import time

import stripe
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count
from django.test.utils import override_settings

from core.dates import business_today
from orders.models import Order
from payments.models import AttemptState, PaymentAttempt
from payments.stub_processor import StubProcessor
from renewals.bench import figures_write
from renewals.bench_cards import card_paid_accounts
from renewals.invariants import invariant_violations
from renewals.models import BatchAttempt, BatchOutcome, SweepRun
from renewals.sweep.card import card_concurrency
from renewals.sweep.run import sweep_run


class Command(BaseCommand):
    help = (
        "Build N card-paid accounts (3 due orders each, paid by the saved card) in the configured database, point "
        "Stripe at a local stub processor that answers after --latency-ms, run the real sweep (its card step) and "
        "print accounts per second, charges, 429s, peak in-flight requests and the invariants. Use a scratch "
        "database: the rows stay."
    )

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, required=True)
        parser.add_argument("--latency-ms", type=float, default=300)
        parser.add_argument("--concurrency", type=int, help="CARD_CONCURRENCY for this run (default: the setting)")
        parser.add_argument("--rate", type=int, help="CARD_RATE_PER_SECOND for this run (default: the setting)")
        parser.add_argument(
            "--processor-limit",
            type=int,
            default=25,
            help="the stub answers 429 above this many requests a second, as Stripe's test mode does (0: never)",
        )
        parser.add_argument(
            "--rate-limited-share", type=float, default=0.0, help="the stub answers 429 to this share of requests"
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--date", help="business date to sweep (default: today)")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        if options["accounts"] < 1:
            raise CommandError("--accounts must be at least 1")
        on = datetime.date.fromisoformat(options["date"]) if options["date"] else business_today()
        if Order.objects.exists() or SweepRun.objects.exists():
            # The sweep takes every due account of the database: only a
            # fresh one measures the accounts built here alone.
            raise CommandError("the database holds orders or runs already: use a fresh (migrated, empty) database")
        built_at = time.perf_counter()
        customer_ids = card_paid_accounts(options["accounts"], seed=options["seed"], on=on)
        build_seconds = time.perf_counter() - built_at
        overrides = {
            "STRIPE_SECRET_KEY": settings.STRIPE_SECRET_KEY or "sk_test_bench",
            # The sweep runs here (its worker processes, not Celery's): the
            # card step is what is measured, with or without a broker.
            "SWEEP_FAN_OUT": False,
        }
        if options["concurrency"] is not None:
            overrides["CARD_CONCURRENCY"] = options["concurrency"]
        if options["rate"] is not None:
            overrides["CARD_RATE_PER_SECOND"] = options["rate"]
        stub = StubProcessor(
            latency_ms=options["latency_ms"],
            limit_per_second=options["processor_limit"],
            rate_limited=options["rate_limited_share"],
            seed=options["seed"],
        )
        sdk_before = (stripe.api_base, stripe.api_key)
        with stub, override_settings(STRIPE_API_BASE=stub.url, **overrides):
            cpu_before = _cpu_seconds()
            started = time.perf_counter()
            sweep_run(on=on, build_report=False)
            seconds = time.perf_counter() - started
            cpu = _cpu_seconds() - cpu_before
            concurrency = card_concurrency()  # as the card step runs it: 1 on SQLite
            rate = getattr(settings, "CARD_RATE_PER_SECOND", None)
        stripe.api_base, stripe.api_key = sdk_before  # later Stripe calls of this process go where they went
        self._report(options, customer_ids, on, stub, seconds, cpu, build_seconds, concurrency, rate)

    def _report(self, options, customer_ids, on, stub, seconds, cpu, build_seconds, concurrency, rate):
        attempts = PaymentAttempt.objects.filter(account_id__in=customer_ids, business_date=on)
        states = dict(attempts.values_list("state").annotate(n=Count("pk")).order_by())
        gave_up = attempts.filter(state=AttemptState.UNKNOWN, error__contains="RateLimitError").count()
        renewed = BatchAttempt.objects.filter(
            customer_id__in=customer_ids, business_date=on, outcome=BatchOutcome.RENEWED
        ).count()
        problems = invariant_violations()
        figures = {
            "accounts": len(customer_ids),
            "latency_ms": options["latency_ms"],
            "concurrency": concurrency,
            "rate_per_s": rate,
            "seconds": round(seconds, 3),
            "accounts_per_s": round(renewed / seconds, 1) if seconds else None,
            "renewed": renewed,
            "charges": stub.charges,
            "attempts": {state: states.get(state, 0) for state in AttemptState.values},
            "requests": len(stub.arrivals),
            "max_requests_in_1s": stub.max_in_one_second(),
            "rate_limited_429": stub.rate_limited_count,
            "retried_429": stub.rate_limited_count - gave_up,
            "peak_in_flight": stub.peak_in_flight,
            # This process (the stub's serving included) and the sweep's
            # worker processes: the work per account, whatever else runs.
            "python_cpu_ms_per_account": round(cpu * 1000 / len(customer_ids), 1),
            "invariants_ok": not problems,
        }
        figures_write(self, figures, problems, as_json=options["json"], build_seconds=build_seconds)


def _cpu_seconds() -> float:
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )
