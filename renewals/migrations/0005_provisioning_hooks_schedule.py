"""Data: hooks whose after-commit queueing failed (broker down) run within 5
minutes (beat, editable in the admin)."""

from django.db import migrations

NAME = "Run pending provisioning hooks"


def create(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = interval_model.objects.get_or_create(every=5, period="minutes")
    task_model.objects.get_or_create(
        name=NAME, defaults={"task": "renewals.tasks.run_provisioning_hooks", "interval": interval}
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("renewals", "0004_fault_isolation"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(create, remove)]
