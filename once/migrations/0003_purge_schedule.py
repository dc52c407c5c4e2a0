"""Data: keys older than 24 hours are forgotten every hour (beat, editable in
the admin); the nightly renewal task used to do it, and renewals, below this
app, no longer knows of the keys."""

from django.db import migrations

from core.beat import every_minutes


class Migration(migrations.Migration):
    dependencies = [("once", "0002_content_type_from_api"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [
        every_minutes(
            "Purge old idempotency keys",
            "once.tasks.idempotency_keys_purge",
            60,
            "Keys of paying requests (API Idempotency-Key, panel form tokens) older than 24 hours.",
        )
    ]
