import json
import logging
import resource
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings

from core.dates import business_today
from notifications.bench import build_outbox, deliver_all, deliver_in_processes
from notifications.delivery import deliver_pending
from notifications.localsmtp import LocalSMTP


class Command(BaseCommand):
    help = (
        "Write N pending notices (paid renewals with their invoices, advance notices) in the configured database, "
        "deliver them all through the real delivery code to a local SMTP server (or --smtp-host/--smtp-port) and "
        "print notices per second, SMTP connections opened and messages received. Use a scratch database: the rows "
        "stay, and any other notice due there is delivered too."
    )

    def add_arguments(self, parser):
        parser.add_argument("--notices", type=int, required=True)
        parser.add_argument("--smtp-host", help="a mail server to send to instead of the local one")
        parser.add_argument("--smtp-port", type=int, default=25)
        parser.add_argument(
            "--workers", type=int, default=1, help="delivery processes at once (as a notices worker's concurrency)"
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        if options["notices"] < 1:
            raise CommandError("--notices must be at least 1")
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        # aiosmtpd logs every command at INFO: 10,000 messages would drown the figures.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        on = business_today()
        started = time.perf_counter()
        built = build_outbox(options["notices"], on=on)
        build_seconds = time.perf_counter() - started
        server = None
        if options["smtp_host"]:
            host, port = options["smtp_host"], options["smtp_port"]
        else:
            server = LocalSMTP().start()
            host, port = "127.0.0.1", server.port
        mail = {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": host,
            "EMAIL_PORT": port,
            "EMAIL_HOST_USER": "" if server else settings.EMAIL_HOST_USER,
            "EMAIL_HOST_PASSWORD": "" if server else settings.EMAIL_HOST_PASSWORD,
            "EMAIL_USE_TLS": False if server else settings.EMAIL_USE_TLS,
            "EMAIL_USE_SSL": False if server else settings.EMAIL_USE_SSL,
        }
        try:
            with override_settings(**mail):
                started, cpu = time.perf_counter(), _cpu()
                if options["workers"] == 1:
                    counts = deliver_all(deliver_pending)
                else:
                    counts = deliver_in_processes(options["workers"])
                seconds, cpu = time.perf_counter() - started, _cpu() - cpu
        finally:
            if server is not None:
                server.stop()
        handled = counts.get("sent", 0) + counts.get("failed", 0) + counts.get("panel_only", 0)
        figures = {
            "notices": built["notices"],
            "sent": counts.get("sent", 0),
            "failed": counts.get("failed", 0),
            "panel_only": counts.get("panel_only", 0),
            "seconds": round(seconds, 3),
            "notices_per_s": round(handled / seconds, 1) if seconds else None,
            # CPU time of this process (the local server's thread included) and
            # of the delivery processes: less noisy than the wall clock on a busy machine.
            "cpu_seconds": round(cpu, 3),
            "workers": options["workers"],
            "passes": counts["passes"],
            # As the server saw them (the local one), else as the delivery counted them.
            "connections": server.inbox.connections if server else counts.get("connections"),
            "received": server.inbox.received if server else None,
            "duplicates": server.inbox.duplicates() if server else None,
        }
        if options["json"]:
            self.stdout.write(json.dumps(figures))
        else:
            self.stdout.write(f"built in {build_seconds:.1f} s; " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def _cpu() -> float:
    """CPU seconds used by this process and its finished children."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )
