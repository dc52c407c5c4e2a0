import http.server
import json
import threading
from dataclasses import dataclass, field

import pytest

from tenants.models import Reseller
from tenants.scope import Actor, ActorKind
from tests.renewals.conftest import order, portal, portal_document, run  # noqa: F401 - fixtures and helpers
from webhooks import services


@dataclass
class Received:
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1: answers each POST with the next of
    ``answers`` (status, body), the last one again when they run out."""

    url: str = ""
    answers: list = field(default_factory=lambda: [(200, "ok")])
    received: list = field(default_factory=list)


@pytest.fixture
def receiver():
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.received.append(Received(dict(self.headers.items()), body))
            status, text = state.answers.pop(0) if len(state.answers) > 1 else state.answers[0]
            payload = text.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def loopback(settings):
    settings.WEBHOOK_INSECURE_LOOPBACK = True


def staff(reseller: Reseller) -> Actor:
    return Actor(kind=ActorKind.RESELLER, label=f"staff of {reseller.ref}", reseller_id=reseller.pk,
                 reseller_path=reseller.path)  # fmt: skip


def endpoint_for(reseller_ref: str, url: str, events=None):
    reseller = Reseller.objects.get(ref=reseller_ref)
    return services.endpoint_create(
        actor=staff(reseller), url=url, events=events or ["order.renewed", "invoice.created"]
    )
