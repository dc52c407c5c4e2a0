"""The notifications tests' fixtures: the portal loader and a real SMTP server."""

import email

import pytest
from aiosmtpd.controller import Controller

from tests.renewals.conftest import portal  # noqa: F401 - the shared portal loader fixture


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    @staticmethod
    def bodies(message) -> tuple[str, str]:
        """A message's text and HTML alternatives, decoded (not its attachments)."""
        parts = {
            p.get_content_type(): p.get_payload(decode=True).decode()
            for p in message.walk()
            if p.get_content_maintype() == "text" and not p.get_filename()
        }
        return parts["text/plain"], parts["text/html"]


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
def serve(settings):
    """serve(inbox) -> a counting SMTP server (notifications.localsmtp) with
    that handler, which the portal mails to until the test ends."""
    from notifications.localsmtp import LocalSMTP

    servers = []

    def start(inbox):
        server = LocalSMTP(inbox).start()
        servers.append(server)
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.DEFAULT_FROM_EMAIL = "billing@portal.test"
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def mailbox(serve):
    """A counting SMTP server: ``mailbox.inbox`` has the connections, the
    messages and how often each notice arrived; ``mailbox.inbox.refused``
    the addresses it refuses."""
    from notifications.localsmtp import Inbox

    return serve(Inbox(keep=True))
