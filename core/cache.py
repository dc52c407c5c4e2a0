"""The cache when Redis is configured: Redis while it answers, each process's
own memory while it does not (SPEC "Faults and bad data": the panels, the
API and sign-in keep serving with Redis down).

What lives in the cache is disposable by design (throttle counts), so losing
it for the length of an outage only makes the throttles count per process
for that time; a warning is logged once per outage. After a failure Redis is
left alone for ``RETRY_SECONDS`` so that requests do not each wait on it.
"""

import logging
import time

import redis
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

log = logging.getLogger("core.cache")
RETRY_SECONDS = 30
# Redis not answering; anything else (incr of a missing key's ValueError) is the caller's.
_UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
_FALLBACK_METHODS = (
    "add", "get", "set", "touch", "delete", "get_many", "has_key", "incr", "decr", "set_many", "delete_many", "clear",
)  # fmt: skip


class ResilientRedisCache(RedisCache):
    def __init__(self, server, params):
        options = params.setdefault("OPTIONS", {})
        # A Redis that is down answers at once (connection refused); one that
        # is unreachable must not hold a request for long either.
        options.setdefault("socket_connect_timeout", 0.5)
        options.setdefault("socket_timeout", 0.5)
        super().__init__(server, params)
        self._local = LocMemCache(f"fallback-{id(self)}", {"TIMEOUT": params.get("TIMEOUT", 300)})
        self._down_until = 0.0


def _resilient(name: str):
    redis_method = getattr(RedisCache, name)
    local_method = getattr(LocMemCache, name)

    def method(self, *args, **kwargs):
        if time.monotonic() >= self._down_until:
            try:
                result = redis_method(self, *args, **kwargs)
            except _UNREACHABLE as exc:
                if not self._down_until:
                    log.warning("cache: Redis is not answering (%s); counting in each process until it is back", exc)
                self._down_until = time.monotonic() + RETRY_SECONDS
            else:
                if self._down_until:
                    log.info("cache: Redis answers again")
                    self._down_until = 0.0
                return result
        return local_method(self._local, *args, **kwargs)

    method.__name__ = name
    return method


for _name in _FALLBACK_METHODS:
    setattr(ResilientRedisCache, _name, _resilient(_name))
