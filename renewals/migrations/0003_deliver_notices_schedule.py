"""Data: the outbox is sent every minute (beat, editable in the admin)."""

from django.db import migrations

NAME = "Deliver notices (outbox)"


def create(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = interval_model.objects.get_or_create(every=1, period="minutes")
    task_model.objects.get_or_create(
        name=NAME, defaults={"task": "renewals.tasks.deliver_notices", "interval": interval}
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("renewals", "0002_nightly_schedule")]

    operations = [migrations.RunPython(create, remove)]
