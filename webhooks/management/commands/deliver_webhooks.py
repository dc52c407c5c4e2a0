"""Send the due webhook deliveries now (beat does it every minute; without a
broker, run this, e.g. from cron)."""

from django.core.management.base import BaseCommand

from webhooks.delivery import deliver_due


class Command(BaseCommand):
    help = "Send the due webhook deliveries (signed POSTs to the resellers' endpoints)."

    def handle(self, *args, **options):
        counts = deliver_due()
        self.stdout.write(", ".join(f"{key}: {value}" for key, value in counts.items()))
