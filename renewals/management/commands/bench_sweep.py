import datetime
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from core.dates import business_today
from core.progress import add_progress_argument, command_progress
from renewals.bench import build_portal, figures_write, peak_rss_mb, statements_counted
from renewals.bench_night import whole_night_command
from renewals.bench_sql import hand_sweep
from renewals.invariants import invariant_violations
from renewals.models import SweepRun
from renewals.sweep.run import sweep_run


class Command(BaseCommand):
    help = (
        "Build a synthetic portal (3 orders per account, balance-paid) in the configured database, run the real "
        "sweep, check the invariants and print the figures. Use a scratch database: the rows stay."
    )

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, required=True)
        parser.add_argument("--due-fraction", type=float, default=1.0)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--date", help="business date to sweep (default: today)")
        parser.add_argument("--json", action="store_true")
        parser.add_argument(
            "--whole-night",
            action="store_true",
            help="a portal with orders in every state (renewals.bench_night): lifecycle, sweep and notices, per phase",
        )
        parser.add_argument(
            "--hand-sql",
            choices=("bare", "full"),
            help="the yardstick instead of the sweep: the portal renewed by hand-written SQL (renewals.bench_sql), "
            "bare (lock, debit, invoice with lines, extend, ledger) or full (also the sweep's records)",
        )
        parser.add_argument(
            "--webhook-endpoint",
            action="store_true",
            help="the benchmark's reseller gets a webhook endpoint subscribed to every event (docs/webhooks.md): "
            "the sweep then writes its events and deliveries (never sent here)",
        )
        add_progress_argument(parser)

    def handle(self, *args, **options):
        with command_progress(self, options) as progress:
            self.bench(options, progress)

    def bench(self, options, progress):
        if options["orders"] < 1:
            raise CommandError("--orders must be at least 1")
        if not 0 <= options["due_fraction"] <= 1:
            raise CommandError("--due-fraction must be between 0 and 1")
        on = datetime.date.fromisoformat(options["date"]) if options["date"] else business_today()
        if SweepRun.objects.filter(business_date=on, dry_run=False).exists():
            raise CommandError(f"{on} was already swept in this database; use another --date or a fresh database")
        if options["whole_night"]:
            return whole_night_command(self, options, on, progress)
        if options["hand_sql"] and connection.vendor != "postgresql":
            raise CommandError("--hand-sql is PostgreSQL's SQL: set DATABASE_URL to a scratch PostgreSQL database")
        built_at = time.perf_counter()
        progress("build", 0, 1)
        built = build_portal(
            orders=options["orders"], due_fraction=options["due_fraction"], seed=options["seed"], on=on
        )
        progress("build", 1, 1)
        if options["webhook_endpoint"]:
            _webhook_endpoint(built["tag"])
        build_seconds = time.perf_counter() - built_at
        # Statements on every connection, the sweep's worker processes' and
        # threads' included (renewals.bench.statements_counted).
        with statements_counted() as statements:
            started = time.perf_counter()
            if options["hand_sql"]:
                renewed = hand_sweep(on=on, records=options["hand_sql"] == "full")["orders"]
            else:
                sweep_run(on=on, build_report=False, progress=progress or None)
            seconds = time.perf_counter() - started
        progress.close()  # the bars end before the figures are printed
        if not options["hand_sql"]:
            renewed = SweepRun.objects.filter(business_date=on, dry_run=False).latest("pk").orders_renewed
        # The largest process of the build and the night: this one, or a sweep
        # worker process (read before the invariants' check, which is the
        # benchmark's, not the night's).
        peak_rss = peak_rss_mb()
        problems = invariant_violations()
        figures = {
            "orders": built["orders"],
            "accounts": built["accounts"],
            "renewed": renewed,
            "seconds": round(seconds, 3),
            "orders_per_s": round(renewed / seconds, 1) if seconds else None,
            "queries": statements.total,
            "peak_rss_mb": peak_rss,
            "invariants_ok": not problems,
        }
        if options["webhook_endpoint"]:
            from webhooks.models import Delivery, Event

            figures.update(webhook_events=Event.objects.count(), webhook_deliveries=Delivery.objects.count())
        figures_write(self, figures, problems, as_json=options["json"], build_seconds=build_seconds)


def _webhook_endpoint(tag: str) -> None:
    from tenants.models import Reseller
    from tenants.scope import Actor, ActorKind
    from webhooks.models import EventType
    from webhooks.services import endpoint_create

    reseller = Reseller.objects.get(ref=tag)
    staff = Actor(kind=ActorKind.RESELLER, label="bench", reseller_id=reseller.pk, reseller_path=reseller.path)
    endpoint_create(actor=staff, url="https://hooks.example.com/bench", events=list(EventType.values))
