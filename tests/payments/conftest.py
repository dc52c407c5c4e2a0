import contextlib
import json

import pytest
import requests
import stripe

from tests.notifications.conftest import smtp  # noqa: F401 - a real SMTP server a test can take down
from tests.renewals.conftest import portal, run  # noqa: F401 - the shared portal loader and run_renewals fixtures


def confirming(method: str, url: str, body: str) -> bool:
    """A request that confirms a charge: ``/confirm``, or a create that
    confirms in the same request (the nightly off-session charge)."""
    return url.endswith("/confirm") or (creating(method, url, body) and "confirm=true" in body)


def creating(method: str, url: str, body: str) -> bool:
    return method == "post" and url.split("?")[0].endswith("/v1/payment_intents")


def everything(method: str, url: str, body: str) -> bool:
    return True


# Answers Stripe gives without doing anything: (HTTP status, error type, message, code).
ANSWERS = {
    "invalid": (400, "invalid_request_error", "Amount must be at least $0.50 usd", "amount_too_small"),
    "bad_key": (401, "invalid_request_error", "Invalid API Key provided: sk_live_****", None),
    "server_error": (500, "api_error", "An unknown error occurred", None),
}
# Replies that never come, as requests raises them (the SDK translates them).
DROPS = {
    "lost": lambda: requests.exceptions.ConnectionError("Connection aborted: the connection dropped"),
    "timeout": lambda: requests.exceptions.ReadTimeout("Read timed out. (read timeout=30)"),
    "down": lambda: requests.exceptions.ConnectionError("Connection refused"),
}


@pytest.fixture
def stripe_fault(monkeypatch):
    """``with stripe_fault(kind, on=confirming, served=...) as hits:`` the
    requests ``on`` matches get the fault ``kind`` at the SDK's transport:

    - ``lost``, ``timeout``: the request reaches Stripe and is served (unless
      ``served=False``), the reply never arrives;
    - ``down``: nothing reaches Stripe;
    - ``invalid`` (400), ``bad_key`` (401), ``server_error`` (500): Stripe
      answers with that error; it did nothing (unless ``served=True``: the
      request was carried out, then the error came back).

    ``hits`` lists the URLs the fault hit."""
    real_request = stripe.RequestsClient.request

    def injecting(kind, on, served):
        hits = []

        def request(self, method, url, headers, post_data=None):
            body = post_data.decode() if isinstance(post_data, bytes) else post_data or ""
            if not on(method.lower(), url, body):
                return real_request(self, method, url, headers, post_data)
            hits.append(url)
            if served:
                real_request(self, method, url, headers, post_data)
            if kind in DROPS:
                self._handle_request_error(DROPS[kind]())
            status, error_type, message, code = ANSWERS[kind]
            payload = {"error": {"type": error_type, "message": message, "code": code}}
            return json.dumps(payload).encode(), status, {"Content-Type": "application/json", "Request-Id": "req_x"}

        return request, hits

    @contextlib.contextmanager
    def fault(kind: str, *, on=confirming, served: bool | None = None):
        served = kind in ("lost", "timeout") if served is None else served
        request, hits = injecting(kind, on, served)
        monkeypatch.setattr(stripe.RequestsClient, "request", request)
        try:
            yield hits
        finally:
            monkeypatch.setattr(stripe.RequestsClient, "request", real_request)

    return fault


@pytest.fixture
def reply_lost(stripe_fault):
    """``with reply_lost():`` Stripe confirms the charge, but the answer never
    reaches us (the connection drops after the request was served): the
    ``/confirm`` of an on-session charge, or the create-and-confirm of a
    nightly off-session one."""
    return lambda: stripe_fault("lost", on=confirming)
