from django.db import migrations


class Migration(migrations.Migration):
    """Schema: the renewal's hold, claim and batch leave the payment attempt,
    now kept by renewals.RenewalPayment (copied there by renewals 0008, which
    runs before this one: payments depends on nothing of renewals)."""

    dependencies = [
        ("payments", "0007_off_session_from_batch"),
    ]

    operations = [
        migrations.RemoveField(model_name="paymentattempt", name="batch"),
        migrations.RemoveField(model_name="paymentattempt", name="claim"),
        migrations.RemoveField(model_name="paymentattempt", name="hold"),
    ]
