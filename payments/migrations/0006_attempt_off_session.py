from django.db import migrations, models


class Migration(migrations.Migration):
    """Schema: whether a charge is made with the customer away (the sweep's),
    on the attempt itself, so that charging it no longer asks which renewal
    batch it pays (that moves to renewals.RenewalPayment)."""

    dependencies = [
        ("payments", "0005_processor_movements"),
    ]

    operations = [
        migrations.AddField(
            model_name="paymentattempt",
            name="off_session",
            field=models.BooleanField(default=False),
        ),
    ]
