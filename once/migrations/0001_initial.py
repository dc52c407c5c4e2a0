"""The idempotency keys move from the API app to this one (the panels and
the API both pay through it, and neither imports the other). Only Django's
record of the model moves: the table stays ``api_idempotencykey`` with its
rows, constraints and index (api 0004 takes the model out of the API's
state)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("api", "0003_drop_authtoken_table"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="IdempotencyKey",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("key", models.CharField(max_length=100)),
                        (
                            "fingerprint",
                            models.CharField(help_text="sha256 of method, path and canonical JSON body", max_length=64),
                        ),
                        (
                            "state",
                            models.CharField(
                                choices=[
                                    ("in_progress", "In progress"),
                                    ("done", "Done"),
                                    ("failed", "Failed, may be retried"),
                                ],
                                default="in_progress",
                                max_length=16,
                            ),
                        ),
                        ("holder", models.CharField(max_length=32)),
                        ("claimed_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("pins", models.JSONField(blank=True, null=True)),
                        ("response_status", models.PositiveSmallIntegerField(blank=True, null=True)),
                        ("response_body", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "indexes": [models.Index(fields=["created_at"], name="idempotency_key_created_idx")],
                        "db_table": "api_idempotencykey",
                        "constraints": [
                            models.UniqueConstraint(fields=("user", "key"), name="idempotency_key_once_per_user"),
                            models.CheckConstraint(
                                condition=models.Q(
                                    models.Q(("state", "done"), _negated=True),
                                    ("response_status__isnull", False),
                                    _connector="OR",
                                ),
                                name="idempotency_key_done_has_response",
                            ),
                        ],
                    },
                ),
            ],
        ),
    ]
