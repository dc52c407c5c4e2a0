"""Who is on the other end of a request: the one place that decides a client's
address, for the sign-in throttle, the API's throttles and the audit log.

Behind reverse proxies, ``REMOTE_ADDR`` is the nearest proxy's address and the
client's is in ``X-Forwarded-For``, which each proxy extends with the address
it was reached from. Only the entries our own proxies appended can be
believed: anything to their left is whatever the client chose to send. With
``TRUSTED_PROXY_COUNT`` = n, the client is the n-th entry from the right (the
one our outermost proxy wrote); with 0 (the default: nothing in front of the
portal), ``X-Forwarded-For`` is ignored altogether.
"""

from django.conf import settings


def trusted_proxy_count() -> int:
    return max(0, int(getattr(settings, "TRUSTED_PROXY_COUNT", 0)))


def client_address(request) -> str | None:
    """The client's address as our trusted proxies saw it, else REMOTE_ADDR.
    None without a request (the nightly run, a management command)."""
    if request is None:
        return None
    meta = getattr(request, "META", {})
    remote = meta.get("REMOTE_ADDR") or None
    proxies = trusted_proxy_count()
    if not proxies:
        return remote
    forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if not forwarded:
        return remote  # not through our proxies (a health check from inside): the peer itself
    # Fewer entries than proxies: a proxy in the chain did not add one; the
    # leftmost is the furthest any of ours saw.
    return forwarded[-min(proxies, len(forwarded))]
