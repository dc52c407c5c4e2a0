"""The API's throttles, counting a caller without credentials by its address
as core.net.client_address decides it (TRUSTED_PROXY_COUNT), the same as the
panels' sign-in throttle and the audit log. DRF's own ``get_ident`` would
believe ``NUM_PROXIES``, a second setting that could disagree, and without it
takes the whole ``X-Forwarded-For`` as the key: any client could send a new
one with each call and never be throttled."""

from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from core.net import client_address


class ByClientAddress:
    def get_ident(self, request) -> str:
        # No valid address at all (a unix socket without a proxy): one shared
        # bucket, so an unidentifiable caller is still limited.
        return client_address(request) or "unknown"


class UserThrottle(ByClientAddress, UserRateThrottle):
    """Scope "user": per user once authenticated, else per address."""


class AnonThrottle(ByClientAddress, AnonRateThrottle):
    """Scope "anon": per address, for calls without credentials."""
