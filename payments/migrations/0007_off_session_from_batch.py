"""Data: the attempts that pay a sweep's batch were charged off-session (the
rule the code applied until now: a renewal with a batch)."""

from django.db import migrations


def off_session_from_batch(apps, schema_editor) -> int:
    attempt = apps.get_model("payments", "PaymentAttempt")
    return attempt.objects.filter(purpose="renewal", batch__isnull=False).update(off_session=True)


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0006_attempt_off_session"),
    ]

    operations = [migrations.RunPython(off_session_from_batch, migrations.RunPython.noop)]
