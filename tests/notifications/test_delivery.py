"""Delivering the outbox through a real local SMTP server (aiosmtpd)."""

import datetime

import pytest
from django.core.management import call_command
from django.urls import reverse

from notifications.delivery import deliver_pending
from notifications.models import DeliveryState, Notice
from tests.renewals.conftest import order

D = datetime.date


def counts(**these) -> dict[str, int]:
    """What a delivery run reports: notices sent, failed, panel only, handed
    back for lack of time, and the SMTP connections it opened."""
    return {"sent": 0, "failed": 0, "panel_only": 0, "deferred": 0, "connections": 0, **these}


@pytest.fixture
def renewed(portal):
    """A night that renews one order: two notices for jane@example.test."""
    portal(
        [order("o1", D(2026, 12, 10))],
        resellers=[{"ref": "r1", "name": "Acme Hosting", "email": "billing@acme.test"}],
        customers=[{"ref": "c1", "name": "Jane", "email": "jane@example.test", "reseller": "r1", "balance": "50.00"}],
    )
    call_command("run_renewals", "--date", "2026-12-05", verbosity=0)


@pytest.mark.django_db
def test_each_notice_is_mailed_once_in_the_resellers_name(smtp, renewed):
    inbox = smtp.inbox
    assert deliver_pending() == counts(sent=2, connections=1)
    assert deliver_pending() == counts()  # again: nothing twice
    call_command("run_renewals", "--date", "2026-12-05", verbosity=0)  # the nightly work again
    assert deliver_pending()["sent"] == 0
    assert sorted(m["Subject"].split(":")[0] for m in inbox.messages) == ["Renewal paid", "Renewed"]
    message = inbox.messages[0]
    assert message["From"] == "Acme Hosting <billing@portal.test>"
    assert message["Reply-To"] == "billing@acme.test"
    assert message["To"] == "jane@example.test"
    text, html = smtp.inbox.bodies(message)
    assert "o1" in text
    assert ">o1</td>" in html
    assert set(Notice.objects.values_list("state", flat=True)) == {DeliveryState.SENT}


@pytest.mark.django_db
def test_with_the_mail_server_down_notices_wait_and_go_out_once_it_is_back(smtp, renewed):
    smtp.down()
    now = datetime.datetime(2026, 12, 5, 3, 0, tzinfo=datetime.UTC)
    assert deliver_pending(now=now) == counts(failed=2)
    failed = Notice.objects.first()
    assert (failed.state, failed.attempts, failed.next_attempt_at) == (
        DeliveryState.FAILED,
        1,
        now + datetime.timedelta(minutes=1),
    )
    assert deliver_pending(now=now)["failed"] == 0  # not before its retry time
    smtp.up()
    assert deliver_pending(now=now + datetime.timedelta(minutes=2)) == counts(sent=2, connections=1)
    assert len(smtp.inbox.messages) == 2
    assert deliver_pending(now=now + datetime.timedelta(hours=1))["sent"] == 0


@pytest.mark.django_db
def test_a_customer_without_an_email_address_reads_it_in_the_panel(smtp, portal):
    portal([order("o1", D(2026, 12, 10))], customers=[{"ref": "c1", "name": "J", "reseller": "r1", "balance": "50"}])
    call_command("run_renewals", "--date", "2026-12-05", verbosity=0)
    assert deliver_pending() == counts(panel_only=2)
    assert set(Notice.objects.values_list("state", flat=True)) == {DeliveryState.PANEL_ONLY}
    assert smtp.inbox.messages == []


@pytest.mark.django_db
def test_the_admin_lists_the_outbox_shows_each_message_and_retries_failed_deliveries(smtp, renewed, admin_client):
    smtp.down()
    assert deliver_pending()["failed"] == 2
    changelist = reverse("admin:notifications_notice_changelist")
    page = admin_client.get(changelist, {"state__exact": "failed", "kind__exact": "renewal_succeeded"})
    assert page.status_code == 200
    assert page.content.decode().count("renewal_succeeded") >= 1
    notice = Notice.objects.get(kind="renewal_succeeded")
    detail = admin_client.get(reverse("admin:notifications_notice_change", args=[notice.pk])).content.decode()
    assert "Renewal paid: 10.00 USD for 1 order" in detail
    assert "srcdoc=" in detail
    smtp.up()
    ids = list(Notice.objects.values_list("pk", flat=True))
    response = admin_client.post(changelist, {"action": "retry_failed", "_selected_action": ids}, follow=True)
    assert "Sent 2, failed 0." in response.content.decode()
    assert len(smtp.inbox.messages) == 2
    assert set(Notice.objects.values_list("state", flat=True)) == {DeliveryState.SENT}
