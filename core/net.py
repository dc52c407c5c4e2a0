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

import ipaddress

from django.conf import settings


def trusted_proxy_count() -> int:
    return max(0, int(getattr(settings, "TRUSTED_PROXY_COUNT", 0)))


def normalised(value: str | None) -> str | None:
    """``value`` as one canonical IP address text, or None if it is not one.

    Canonical so that one client is one throttle key however its address is
    spelt (``2001:DB8::1``, ``::ffff:192.0.2.1``), and valid so that the audit
    log's address column (an ``inet`` on PostgreSQL) never refuses a write
    because of what a header held. Accepts what proxies write: ``[v6]``, a
    port after an IPv4 address or a bracketed IPv6 one, a zone (dropped)."""
    text = (value or "").strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]  # IPv4 with a port
    text = text.partition("%")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


def client_address(request) -> str | None:
    """The client's address as our trusted proxies saw it, else REMOTE_ADDR.
    None without a request (the nightly run, a management command) or
    without a valid peer address."""
    if request is None:
        return None
    meta = getattr(request, "META", {})
    remote = normalised(meta.get("REMOTE_ADDR"))
    proxies = trusted_proxy_count()
    if not proxies:
        return remote
    forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if not forwarded:
        return remote  # not through our proxies (a health check from inside): the peer itself
    # Fewer entries than proxies: a proxy in the chain did not add one; the
    # leftmost is the furthest any of ours saw.
    chosen = normalised(forwarded[-min(proxies, len(forwarded))])
    # Not an address (a proxy misconfigured, or TRUSTED_PROXY_COUNT larger
    # than the chain so the client wrote it): counted as the peer, never as
    # nobody, so the throttles still hold.
    return chosen or remote
