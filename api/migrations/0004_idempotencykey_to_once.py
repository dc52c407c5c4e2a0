"""The idempotency keys now belong to the ``once`` app (once 0001): the API's
state forgets the model, the table and its rows stay where they are."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0003_drop_authtoken_table"),
        ("once", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[migrations.DeleteModel(name="IdempotencyKey")],
        ),
    ]
