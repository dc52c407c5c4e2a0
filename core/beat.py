"""Beat schedules created by data migrations (django-celery-beat's database
scheduler: editable in the admin afterwards)."""

from django.db import migrations


def every_minutes(name: str, task: str, minutes: int, description: str = "") -> migrations.RunPython:
    """A migration operation: the periodic task ``name`` runs ``task`` (its
    dotted path) every ``minutes``; reversed, it is removed."""

    def create(apps, schema_editor):
        interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
        task_model = apps.get_model("django_celery_beat", "PeriodicTask")
        interval, _ = interval_model.objects.get_or_create(every=minutes, period="minutes")
        task_model.objects.get_or_create(
            name=name, defaults={"task": task, "interval": interval, "description": description}
        )

    def remove(apps, schema_editor):
        apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=name).delete()

    return migrations.RunPython(create, remove)
