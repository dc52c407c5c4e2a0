"""Schema: an event's data kept as the JSON text its deliveries send (text,
not jsonb: nothing queries inside it, and jsonb is parsed on the way in)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0005_event_copies_without_foreign_keys")]

    operations = [
        migrations.RenameField("event", "data", "data_json"),
        migrations.AlterField("event", "data_json", models.TextField(default="{}")),
    ]
