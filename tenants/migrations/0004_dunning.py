"""Dunning (docs/dunning.md): a reseller's own retry policy, a customer's
exemption from it. Database defaults, so rows written outside the ORM (the
benches' COPY, the demo's load) need not name them."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_customer_owner_reseller"),
    ]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="retry_exempt",
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.AddField(
            model_name="reseller",
            name="last_chance_day",
            field=models.PositiveSmallIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="reseller",
            name="retry_days",
            field=models.JSONField(blank=True, default=None, null=True),
        ),
        migrations.AddField(
            model_name="reseller",
            name="retry_own",
            field=models.BooleanField(
                db_default=False, default=False, help_text="Sets its own retry policy (else inherits)."
            ),
        ),
    ]
