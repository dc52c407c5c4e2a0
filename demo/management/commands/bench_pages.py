import datetime
import json
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.dates import business_today
from demo.pagebench.data import build, existing
from demo.pagebench.load import PAGES, Gunicorn, load, queries_per_page, summarise

TARGET_P95_MS = 150


class Command(BaseCommand):
    help = (
        "Benchmark the panels and the API under gunicorn: build a reseller with --customers customers, one of them "
        "with --big-orders orders, in the configured database (use a scratch PostgreSQL database: the data stays; "
        "--tag reuses it), sign in, GET each page --requests times after --warmup, and print p50/p95/max and the "
        "queries per page."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=10_000)
        parser.add_argument("--big-orders", type=int, default=5_000, help="orders of the customer who signs in")
        parser.add_argument("--orders-each", type=int, default=3, help="orders of every other customer")
        parser.add_argument("--tag", help="reuse the data set of an earlier run (its tag) instead of building one")
        parser.add_argument("--requests", type=int, default=100, help="timed requests per page and round")
        parser.add_argument("--warmup", type=int, default=10)
        parser.add_argument("--rounds", type=int, default=1, help="run the pages this many times, interleaved")
        parser.add_argument("--concurrency", type=int, default=1, help="requests in flight at once")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
        parser.add_argument(
            "--conn-max-age", type=int, default=60, help="the server's DB_CONN_MAX_AGE (persistent connections)"
        )
        parser.add_argument(
            "--server-root", type=Path, default=None, help="serve another checkout of the portal (e.g. the code before "
            "a change, from `git worktree add`) on the same database"
        )  # fmt: skip
        parser.add_argument("--seed", type=int, default=15)
        parser.add_argument("--page", action="append", help="only these pages (by name; repeatable)")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args, **options):
        if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
            self.stderr.write("Not PostgreSQL: the numbers will not say much about production.")
        pages = [p for p in PAGES if not options["page"] or p.name in options["page"]]
        if not pages:
            raise CommandError(f"--page: none of {', '.join(p.name for p in PAGES)}")
        started = time.monotonic()
        if options["tag"]:
            try:
                data = existing(options["tag"])
            except LookupError as exc:
                raise CommandError(str(exc)) from exc
        else:
            data = build(
                customers=options["customers"],
                big_orders=options["big_orders"],
                orders_each=options["orders_each"],
                seed=options["seed"],
                on=business_today(),
            )
        built = time.monotonic() - started
        if not options["json"]:
            self.stdout.write(
                f"Data set {data.tag}: {data.customers:,} customers, {data.orders:,} orders ({built:.1f} s)."
            )
        server = Gunicorn(
            workers=options["workers"], conn_max_age=options["conn_max_age"], **_root(options["server_root"])
        )
        samples: dict[str, list[float]] = {p.name: [] for p in pages}
        sizes = {}
        with server:
            for _ in range(options["rounds"]):
                for page, seconds, size in load(
                    server.url,
                    data,
                    pages,
                    requests=options["requests"],
                    warmup=options["warmup"],
                    concurrency=options["concurrency"],
                ):
                    samples[page].extend(seconds)
                    sizes[page] = size
        queries = queries_per_page(data, pages)
        stats = [summarise(name, seconds, queries=queries[name], size=sizes[name]) for name, seconds in samples.items()]
        if options["json"]:
            report = {
                "date": datetime.date.isoformat(business_today()),
                "tag": data.tag,
                "customers": data.customers,
                "orders": data.orders,
                "build_seconds": round(built, 1),
                "options": {
                    k: options[k] for k in ("requests", "warmup", "rounds", "concurrency", "workers", "conn_max_age")
                },
                "pages": [s.as_dict() for s in stats],
            }
            self.stdout.write(json.dumps(report, indent=2))
            return
        self.stdout.write(f"{'page':<22}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'queries':>9}{'KB':>8}")
        for s in stats:
            flag = "" if s.p95_ms < TARGET_P95_MS else f"  over {TARGET_P95_MS} ms"
            times = f"{s.p50_ms:>9.1f}{s.p95_ms:>9.1f}{s.max_ms:>9.1f}"
            self.stdout.write(f"{s.page:<22}{times}{s.queries:>9}{s.bytes / 1024:>8.0f}{flag}")


def _root(path: Path | None) -> dict:
    if path is None:
        return {}
    if not (path / "manage.py").exists():
        raise CommandError(f"--server-root: no manage.py in {path}")
    return {"root": path.resolve()}
