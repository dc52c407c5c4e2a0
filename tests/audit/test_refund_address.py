"""An admin's refund from Django admin, against a real localstripe: its
records (the refund asked for, and the refund entry posted when Stripe
answers) name the admin and the client's address."""

import pytest

from audit.models import AuditEvent
from payments.models import ProcessorMovement
from tests.factories import UserFactory
from tests.payments.test_refund_admin import refund

CLIENT = "203.0.113.9"
PROXY = "10.0.0.2"

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("proxies", "headers"),
    [
        (0, {"REMOTE_ADDR": CLIENT, "HTTP_X_FORWARDED_FOR": "6.6.6.6"}),
        (1, {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": f"6.6.6.6, {CLIENT}"}),
    ],
    ids=["direct", "through a trusted proxy"],
)
def test_an_admins_refund_records_the_admin_and_the_clients_address(client, paid, settings, proxies, headers):
    # given: an admin signed in, reaching the portal directly or through our proxy
    settings.ADMIN_OTP_REQUIRED = False  # the second factor has its own tests
    settings.TRUSTED_PROXY_COUNT = proxies
    admin = UserFactory(username="ops", is_staff=True, is_superuser=True)
    client.force_login(admin)

    # when: the admin action "refund" for 10.00 of the 30.00 payment
    assert refund(client, paid, "10.00", reason="goodwill", **headers).status_code == 302

    # then: refunded, and both of its records say who and from where
    assert ProcessorMovement.objects.get().processor_id.startswith("re_")
    records = AuditEvent.objects.filter(action__in=["payment.refund", "ledger.refund"]).order_by("pk")
    assert [(r.action, r.actor_label, r.actor_id, r.address) for r in records] == [
        ("payment.refund", "ops", admin.pk, CLIENT),
        ("ledger.refund", "ops", admin.pk, CLIENT),
    ]
