"""Data: the model's content type (and so its permissions) follows it from
the API app, as a rename would, instead of a new one beside a stale one."""

from django.db import migrations

MODEL = "idempotencykey"


def move(apps, from_app: str, to_app: str) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    if not content_type.objects.filter(app_label=to_app, model=MODEL).exists():
        content_type.objects.filter(app_label=from_app, model=MODEL).update(app_label=to_app)


def forwards(apps, schema_editor):
    move(apps, "api", "once")


def backwards(apps, schema_editor):
    move(apps, "once", "api")


class Migration(migrations.Migration):
    dependencies = [("once", "0001_initial"), ("contenttypes", "0002_remove_content_type_name")]

    operations = [migrations.RunPython(forwards, backwards)]
