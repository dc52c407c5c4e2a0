"""Data: hooks whose after-commit queueing failed (broker down) run within 5
minutes (beat, editable in the admin)."""

from django.db import migrations

from core.beat import every_minutes


class Migration(migrations.Migration):
    dependencies = [("renewals", "0004_fault_isolation"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [
        every_minutes(
            "Run pending provisioning hooks",
            "renewals.tasks.run_provisioning_hooks",
            5,
            "Hooks of lifecycle events not run yet (their queueing failed); failed ones are retried nightly.",
        )
    ]
