"""Data: card attempts whose outcome is open are reconciled every 5 minutes
(beat, editable in the admin), besides the nightly task."""

from django.db import migrations

from core.beat import every_minutes


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0002_decide_permission"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        every_minutes(
            "Reconcile card payments",
            "payments.tasks.reconcile_payments",
            5,
            "Settles unknown card attempts, and pending ones older than a few minutes, from Stripe.",
        )
    ]
