"""Data: card attempts whose outcome is open are reconciled every 5 minutes
(beat, editable in the admin), besides the nightly task."""

from django.db import migrations

NAME = "Reconcile card payments"


def create(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = interval_model.objects.get_or_create(every=5, period="minutes")
    task_model.objects.get_or_create(
        name=NAME,
        defaults={
            "task": "payments.tasks.reconcile_payments",
            "interval": interval,
            "description": "Settles unknown card attempts, and pending ones older than a few minutes, from Stripe.",
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0002_decide_permission"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
