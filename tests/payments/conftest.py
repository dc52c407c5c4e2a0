import contextlib

import pytest
import stripe

from tests.renewals.conftest import portal  # noqa: F401 - the shared portal loader fixture


@pytest.fixture
def reply_lost(monkeypatch):
    """``with reply_lost():`` Stripe confirms the charge, but the answer never
    reaches us (the connection drops after the request was served)."""
    real_request = stripe.RequestsClient.request

    def dropping(self, method, url, headers, post_data=None):
        response = real_request(self, method, url, headers, post_data)
        if url.endswith("/confirm"):
            raise stripe.APIConnectionError("the connection dropped before the reply")
        return response

    @contextlib.contextmanager
    def lost():
        monkeypatch.setattr(stripe.RequestsClient, "request", dropping)
        try:
            yield
        finally:
            monkeypatch.setattr(stripe.RequestsClient, "request", real_request)

    return lost
