"""A real SMTP server on loopback, in a thread of this process (aiosmtpd),
for ``bench_notices`` and the tests: it counts the connections opened to it
and the messages it received, by notice, so that one connection per batch
and one message per notice can be checked rather than assumed.

A handler may refuse a recipient (``refused``), and a subclass may do more
(drop the connection, wait): the tests' bad mail servers.
"""

import socket
from collections import Counter

HEADER = b"\nX-Portal-Notice: "


class Inbox:
    """aiosmtpd's handler: what arrived. Its hooks run on the server's own
    event loop thread; the counters are read once the deliveries returned."""

    def __init__(self, *, keep: bool = False):
        self.keep = keep  # the messages themselves too (the tests read them)
        self.connections = 0
        self.received = 0
        self.notices: Counter = Counter()
        self.messages: list[bytes] = []
        self.refused: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's name
        if address in self.refused:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.received += 1
        self.notices[notice_of(envelope.content)] += 1
        if self.keep:
            self.messages.append(envelope.content)
        return "250 OK"

    def duplicates(self) -> int:
        """Messages beyond the first of each notice."""
        return sum(count - 1 for count in self.notices.values() if count > 1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def notice_of(content: bytes) -> str:
    """The notice a message carries in its X-Portal-Notice header ("kind:id")."""
    start = content.find(HEADER)
    if start < 0:
        return ""
    start += len(HEADER)
    return content[start : content.find(b"\r\n", start)].decode().strip()


class LocalSMTP:
    """``with LocalSMTP() as server:`` a server on 127.0.0.1 (a free port
    unless given); ``server.inbox`` counts what came."""

    def __init__(self, inbox: Inbox | None = None, *, port: int = 0):
        self.inbox = inbox or Inbox()
        self.port = port
        self.controller = None

    def start(self) -> "LocalSMTP":
        from aiosmtpd.controller import Controller

        if not self.port:
            self.port = free_port()
        inbox = self.inbox

        class Counting(Controller):
            def factory(self):
                # Called once per connection the server accepts.
                inbox.connections += 1
                return super().factory()

        # A fixed server_hostname: aiosmtpd would otherwise look up this host's
        # FQDN for every connection it accepts (a DNS round trip each).
        self.controller = Counting(inbox, hostname="127.0.0.1", port=self.port, server_hostname="localsmtp.test")
        self.controller.start()
        inbox.connections = 0  # start() makes one connection of its own to check the server is up
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self) -> "LocalSMTP":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
