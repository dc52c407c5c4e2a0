"""Delivering the outbox through a real local SMTP server (aiosmtpd)."""

import datetime
import email

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command

from notifications.delivery import deliver_pending
from notifications.models import DeliveryState, Notice
from tests.renewals.conftest import order

D = datetime.date


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


class MailServer:
    """A real SMTP server on loopback that a test can take down and bring back."""

    def __init__(self, port: int):
        self.port = port
        self.inbox = Inbox()
        self.controller = None

    def up(self):
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def down(self):
        if self.controller:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(settings):
    from demo.localstripe import free_port

    server = MailServer(free_port())
    server.up()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.DEFAULT_FROM_EMAIL = "billing@portal.test"
    yield server
    server.down()


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
    assert deliver_pending() == {"sent": 2, "failed": 0, "panel_only": 0}
    assert deliver_pending() == {"sent": 0, "failed": 0, "panel_only": 0}  # again: nothing twice
    call_command("run_renewals", "--date", "2026-12-05", verbosity=0)  # the nightly work again
    assert deliver_pending()["sent"] == 0
    assert sorted(m["Subject"].split(":")[0] for m in inbox.messages) == ["Renewal paid", "Renewed"]
    message = inbox.messages[0]
    assert message["From"] == "Acme Hosting <billing@portal.test>"
    assert message["Reply-To"] == "billing@acme.test"
    assert message["To"] == "jane@example.test"
    assert "o1" in message.get_payload()
    assert set(Notice.objects.values_list("state", flat=True)) == {DeliveryState.SENT}


@pytest.mark.django_db
def test_with_the_mail_server_down_notices_wait_and_go_out_once_it_is_back(smtp, renewed):
    smtp.down()
    now = datetime.datetime(2026, 12, 5, 3, 0, tzinfo=datetime.UTC)
    assert deliver_pending(now=now) == {"sent": 0, "failed": 2, "panel_only": 0}
    failed = Notice.objects.first()
    assert (failed.state, failed.attempts, failed.next_attempt_at) == (
        DeliveryState.FAILED,
        1,
        now + datetime.timedelta(minutes=1),
    )
    assert deliver_pending(now=now)["failed"] == 0  # not before its retry time
    smtp.up()
    assert deliver_pending(now=now + datetime.timedelta(minutes=2)) == {"sent": 2, "failed": 0, "panel_only": 0}
    assert len(smtp.inbox.messages) == 2
    assert deliver_pending(now=now + datetime.timedelta(hours=1))["sent"] == 0


@pytest.mark.django_db
def test_a_customer_without_an_email_address_reads_it_in_the_panel(smtp, portal):
    portal([order("o1", D(2026, 12, 10))], customers=[{"ref": "c1", "name": "J", "reseller": "r1", "balance": "50"}])
    call_command("run_renewals", "--date", "2026-12-05", verbosity=0)
    assert deliver_pending() == {"sent": 0, "failed": 0, "panel_only": 2}
    assert set(Notice.objects.values_list("state", flat=True)) == {DeliveryState.PANEL_ONLY}
    assert smtp.inbox.messages == []
