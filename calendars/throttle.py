"""How often a feed may be fetched, and how often one address may miss.

Calendar apps fetch subscriptions from their own servers, many users behind
one address: a limit per address would starve them. So each feed (its
secret) has its own count, and an address is counted only for the secrets it
gets wrong (a guesser: 256-bit secrets cannot be guessed, but each miss is
still a query). Fixed windows in Django's cache, counted by the sign-in
throttle's counter (logins.throttle.AttemptCounter): one key per feed or
address, incremented atomically; a refused fetch is not counted.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache

from logins.throttle import AttemptCounter

WINDOW_SECONDS = 3600
# Defaults; settings of the same name override them.
CALENDAR_FETCHES_PER_HOUR = 60  # per feed: an app refreshing every minute still fits
CALENDAR_MISSES_PER_HOUR = 30  # per address: unknown or revoked secrets
KEY_PREFIX = "calendars.throttle"


def _limit(name: str) -> int:
    return int(getattr(settings, name, globals()[name]))


def _key(scope: str, value: str) -> str:
    # Hashed: the secret itself never goes into the cache.
    return f"{KEY_PREFIX}.{scope}.{hashlib.sha256(value.encode()).hexdigest()[:32]}"


def _allowed(key: str, limit: int) -> bool:
    """Count one more within the window; False (not counted) once over ``limit``."""
    return AttemptCounter().take(key, limit, WINDOW_SECONDS) is None


def misses_exceeded(address: str) -> bool:
    """Whether ``address`` got too many secrets wrong this window (it is not
    counted by asking)."""
    return (cache.get(_key("miss", address)) or 0) >= _limit("CALENDAR_MISSES_PER_HOUR")


def miss_count(address: str) -> None:
    _allowed(_key("miss", address), _limit("CALENDAR_MISSES_PER_HOUR"))


def fetch_allowed(secret: str) -> bool:
    """Count a fetch of the feed; False once it is over its limit."""
    return _allowed(_key("feed", secret), _limit("CALENDAR_FETCHES_PER_HOUR"))
