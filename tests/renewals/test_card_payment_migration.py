"""The renewal columns leave the payment attempt (payments 0006-0008,
renewals 0007-0008): a renewal attempt's hold, claim and batch become its
RenewalPayment, and a sweep's attempt is marked off-session, by the data
migrations' own functions run on rows of the schema they were written for."""

import datetime
import importlib
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from payments.models import PaymentAttempt
from renewals.models import BatchAttempt, RenewalPayment
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db(transaction=True)  # migrations change the schema

# The schema between the copy's table and the columns' removal.
BEFORE_COPY = [("payments", "0007_off_session_from_batch"), ("renewals", "0007_renewalpayment")]
copy = importlib.import_module("renewals.migrations.0008_renewal_payments_from_attempts")
off_session = importlib.import_module("payments.migrations.0007_off_session_from_batch")
ON = datetime.date(2026, 12, 10)
CLAIM = [{"order_id": 7, "order_ref": "o1", "start": "2026-12-10", "end": "2027-01-10", "months": 1}]


@pytest.fixture
def before_the_copy():
    """The historical models just before the copy; the schema is migrated to
    the latest again afterwards."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_COPY)
    try:
        yield executor.loader.project_state(BEFORE_COPY).apps
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_a_renewal_attempt_gives_its_hold_claim_and_batch_to_its_renewal_payment(before_the_copy):
    customer = CustomerFactory()
    batch = BatchAttempt.objects.create(
        customer=customer, business_date=ON, outcome="pending", total=Decimal("20.00"), currency="USD"
    )
    apps = before_the_copy
    attempt = apps.get_model("payments", "PaymentAttempt")
    common = {"account_id": customer.pk, "currency": "USD", "business_date": ON, "state": "pending"}
    swept = attempt.objects.create(
        **common, purpose="renewal", amount=Decimal("15.00"), idempotency_key="renewal-1-2026-12-10",
        hold=Decimal("5.00"), claim=CLAIM, batch_id=batch.pk,
    )  # fmt: skip
    manual = attempt.objects.create(
        **common, purpose="renewal", amount=Decimal("20.00"), idempotency_key="manual-1-x", claim=CLAIM
    )
    top_up = attempt.objects.create(**common, purpose="top_up", amount=Decimal("30.00"), idempotency_key="t")

    assert off_session.off_session_from_batch(apps, None) == 1
    assert copy.renewal_payments_from_attempts(apps, None) == 2
    assert copy.renewal_payments_from_attempts(apps, None) == 0  # once per attempt
    payment = apps.get_model("renewals", "RenewalPayment")
    assert {p.attempt_id: (p.hold, p.claim, p.batch_id) for p in payment.objects.all()} == {
        swept.pk: (Decimal("5.00"), CLAIM, batch.pk),
        manual.pk: (Decimal("0.00"), CLAIM, None),
    }
    assert dict(attempt.objects.values_list("pk", "off_session")) == {
        swept.pk: True,
        manual.pk: False,
        top_up.pk: False,
    }

    # Backwards: onto the attempts again.
    attempt.objects.update(hold=0, claim=[], batch_id=None)
    assert copy.attempts_from_renewal_payments(apps, None) == 2
    assert (attempt.objects.get(pk=swept.pk).hold, attempt.objects.get(pk=swept.pk).batch_id) == (5, batch.pk)

    # Forwards to the latest schema: the columns are gone, the rows kept.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert RenewalPayment.objects.select_related("attempt").get(batch=batch).attempt.off_session
    assert RenewalPayment.objects.get(pk=manual.pk).claim == CLAIM
    assert not RenewalPayment.objects.filter(pk=top_up.pk).exists()
    assert not hasattr(PaymentAttempt, "hold")
