"""Data: each renewal's payment attempt gives its claim, hold and batch to a
RenewalPayment row (the columns leave payments in payments 0008). Backwards,
they go back onto the attempts."""

from django.db import migrations

CHUNK = 1000


def renewal_payments_from_attempts(apps, schema_editor) -> int:
    """One RenewalPayment per renewal attempt that has none; returns how many."""
    attempts = apps.get_model("payments", "PaymentAttempt")
    payment = apps.get_model("renewals", "RenewalPayment")
    rows = (
        attempts.objects.filter(purpose="renewal", renewal__isnull=True)
        .order_by("pk")
        .values_list("pk", "hold", "claim", "batch_id")
    )
    made = [payment(attempt_id=pk, hold=hold, claim=claim, batch_id=batch) for pk, hold, claim, batch in rows]
    payment.objects.bulk_create(made, batch_size=CHUNK)
    return len(made)


def attempts_from_renewal_payments(apps, schema_editor) -> int:
    """Backwards: the claim, hold and batch back onto each attempt."""
    attempts = apps.get_model("payments", "PaymentAttempt")
    payment = apps.get_model("renewals", "RenewalPayment")
    moved = 0
    for row in payment.objects.order_by("pk").iterator(chunk_size=CHUNK):
        moved += attempts.objects.filter(pk=row.attempt_id).update(
            hold=row.hold, claim=row.claim, batch_id=row.batch_id
        )
    return moved


class Migration(migrations.Migration):
    dependencies = [
        ("renewals", "0007_renewalpayment"),
    ]
    # The columns it reads leave the attempts in payments 0008.
    run_before = [("payments", "0008_attempt_renewal_columns_leave")]

    operations = [migrations.RunPython(renewal_payments_from_attempts, attempts_from_renewal_payments)]
