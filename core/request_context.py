"""The client's address of the request being served, for code far from the
view: the audit log records it with each change (audit.models.AuditEvent).

Set for the length of each request by ``ClientAddressMiddleware`` (from
``core.net.client_address``, so the trusted proxies decide), and None outside
one: the nightly run, a Celery worker, a management command.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from core.net import client_address

# A contextvar, not a thread-local: each request (thread or task) sees its own.
_address: ContextVar[str | None] = ContextVar("client_address", default=None)


def current_address() -> str | None:
    """The client's address of the request being served, else None."""
    return _address.get()


@contextmanager
def serving(address: str | None) -> Iterator[None]:
    """Code inside runs as serving a request from ``address``."""
    token = _address.set(address)
    try:
        yield
    finally:
        _address.reset(token)


class ClientAddressMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with serving(client_address(request)):
            return self.get_response(request)
