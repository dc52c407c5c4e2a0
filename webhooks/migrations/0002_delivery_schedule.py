"""Data: the webhook deliveries go out every minute (beat, editable in the
admin); a new event also asks for a pass as soon as its transaction commits."""

from django.db import migrations

from core.beat import every_minutes


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0001_initial"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [
        every_minutes(
            "Deliver webhooks",
            "webhooks.tasks.deliver_webhooks",
            1,
            "Signed POSTs of the outbox's events to the resellers' endpoints, retried with backoff.",
        )
    ]
