import django.db.models.deletion
from django.db import migrations, models

import core.fields


class Migration(migrations.Migration):
    """Schema: what a renewal's card payment claims and holds, in a table
    renewals owns (filled from the payment attempts in 0008)."""

    dependencies = [
        ("payments", "0007_off_session_from_batch"),
        ("renewals", "0006_money_three_places"),
    ]

    operations = [
        migrations.CreateModel(
            name="RenewalPayment",
            fields=[
                (
                    "attempt",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        primary_key=True,
                        related_name="renewal",
                        serialize=False,
                        to="payments.paymentattempt",
                    ),
                ),
                ("hold", core.fields.MoneyField(decimal_places=3, default=0, max_digits=20)),
                ("claim", models.JSONField(blank=True, default=list)),
                (
                    "batch",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="card_payment",
                        to="renewals.batchattempt",
                    ),
                ),
            ],
        ),
    ]
