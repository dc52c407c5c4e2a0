import datetime
import json

from django.core.management.base import BaseCommand, CommandError

from core.dates import business_today
from core.isolation import first_line
from core.progress import add_progress_argument, command_progress
from renewals.sweep.run import sweep_run
from tenants.scope import Actor


class Command(BaseCommand):
    help = (
        "Run the nightly work (auto-renew sweep, lifecycle, notices) for one business date "
        "(default: today in the platform time zone). --dry-run writes nothing and predicts the real run. "
        "Exits 0 when the date completed (failed batches are in the report), 1 when it could not complete."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", help="business date YYYY-MM-DD (default: today in TIME_ZONE)")
        parser.add_argument("--dry-run", action="store_true", help="predict, write nothing")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        add_progress_argument(parser)

    def handle(self, *args, **options):
        if options["date"]:
            try:
                on = datetime.date.fromisoformat(options["date"])
            except ValueError as exc:
                raise CommandError(f'--date: not a date ("{options["date"]}"; expected YYYY-MM-DD)') from exc
        else:
            on = business_today()
        try:
            with command_progress(self, options) as progress:
                report = sweep_run(
                    on=on, dry_run=options["dry_run"], actor=Actor.system("run_renewals"), progress=progress or None
                )
        except Exception as exc:
            # SPEC "Faults and bad data": exit 1 only when the date could not
            # complete; one line for the operator (the run's record keeps the
            # error, --traceback shows where).
            reason = first_line(str(exc)) or "no message"
            raise CommandError(
                f"{on} could not complete: {type(exc).__name__}: {reason} (run it again; --traceback for details)",
                returncode=1,
            ) from exc
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        elif options["verbosity"] > 0:
            self.stdout.write(report.summary())
