"""At most ``settings.CARD_RATE_PER_SECOND`` requests a second to the card
processor, from every process that calls it at once (the sweep's worker
processes and threads, Celery workers, the web's top-ups).

Stripe limits requests per second per account (25 in test mode, 100 in live
mode) and answers 429 above it. The portal keeps under it by spacing its
requests: each request reserves the next free slot, one ``1/rate`` after the
one before, and waits for it. No bursts: K requests span at least
(K - 1) / rate seconds, whoever sends them.

Where the slots are kept:

- With ``REDIS_URL``: in Redis, reserved by one Lua script (atomic; Redis'
  own clock, so processes on several machines share one schedule).
- Without it, or while Redis does not answer: in memory shared by this
  process and the processes forked from it (the sweep's worker processes
  fork from the nightly run after this module is imported). Processes
  started apart without Redis each keep their own schedule; a 429 that
  follows is retried (payments.gateway).

A rate of 0 turns the limit off.
"""

import logging
import multiprocessing
import threading
import time

import redis
from django.conf import settings

log = logging.getLogger("payments.throttle")

DEFAULT_RATE_PER_SECOND = 24  # under Stripe's test-mode limit of 25 a second
REDIS_KEY = "payments:processor:next-slot"
RETRY_REDIS_SECONDS = 30
# A process killed inside the shared lock (a few instructions) must not stop
# the others: they wait this long for it, then go on unspaced once.
LOCK_WAIT_SECONDS = 1.0

# Reserve the next slot: the later of now and the first free one; the slot
# after it becomes the first free one. Microseconds on Redis' clock; the
# key expires once nobody has sent for a while. Returns how long to wait.
_RESERVE = """
local now_s = redis.call('TIME')
local now = tonumber(now_s[1]) * 1000000 + tonumber(now_s[2])
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, free)
redis.call('SET', KEYS[1], string.format('%.0f', slot + tonumber(ARGV[1])), 'PX', 60000)
return slot - now
"""


def rate_per_second() -> int:
    return getattr(settings, "CARD_RATE_PER_SECOND", DEFAULT_RATE_PER_SECOND) or 0


class LocalSlots:
    """The schedule in shared memory: a ``RawValue`` and a lock made before
    the sweep forks its workers are the same memory in each of them."""

    def __init__(self):
        try:
            self._next = multiprocessing.RawValue("d", 0.0)
            self._lock = multiprocessing.Lock()
        except OSError:  # no shared memory (a locked-down container): this process alone
            self._next = _Box()
            self._lock = threading.Lock()

    def reserve(self, interval: float) -> float:
        locked = self._lock.acquire(timeout=LOCK_WAIT_SECONDS)
        try:
            now = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process of the machine
            slot = max(now, self._next.value)
            self._next.value = slot + interval
            return slot - now
        finally:
            if locked:
                self._lock.release()


class _Box:
    value = 0.0


class RedisSlots:
    """The schedule in Redis; None from ``reserve`` when Redis does not answer."""

    def __init__(self, url: str, key: str = REDIS_KEY):
        self._client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        self._script = self._client.register_script(_RESERVE)
        self._key = key

    def reserve(self, interval: float) -> float | None:
        try:
            waited = self._script(keys=[self._key], args=[int(interval * 1_000_000)])
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
            return None
        return int(waited) / 1_000_000


class Throttle:
    """Waits for a slot: in Redis when given a URL, else (or while Redis is
    down, with one warning per outage) in the local schedule."""

    def __init__(self, redis_url: str = "", *, key: str = REDIS_KEY, local: LocalSlots | None = None):
        self._redis = RedisSlots(redis_url, key) if redis_url else None
        self._local = local or _local
        self._redis_down_until = 0.0

    def reserve(self, rate: float) -> float:
        """Reserve a slot at ``rate`` a second; the seconds until it."""
        interval = 1.0 / rate
        if self._redis is not None and time.monotonic() >= self._redis_down_until:
            delay = self._redis.reserve(interval)
            if delay is not None:
                if self._redis_down_until:
                    log.info("processor rate: Redis answers again; the limit is shared again")
                    self._redis_down_until = 0.0
                return delay
            if not self._redis_down_until:
                log.warning("processor rate: Redis is not answering; spacing requests in this process meanwhile")
            self._redis_down_until = time.monotonic() + RETRY_REDIS_SECONDS
        return self._local.reserve(interval)

    def wait(self, rate: float | None = None) -> float:
        """Wait for the next slot; the seconds waited (0 without a limit)."""
        rate = rate_per_second() if rate is None else rate
        if rate <= 0:
            return 0.0
        delay = self.reserve(rate)
        if delay > 0:
            time.sleep(delay)
        return max(delay, 0.0)


# Made at import, before any fork: the sweep's worker processes share it.
_local = LocalSlots()
_throttles: dict[str, Throttle] = {}
_throttles_lock = threading.Lock()


def processor_slot_wait() -> float:
    """Wait until this process may send its next request to the processor
    (the configured rate, shared through ``settings.REDIS_URL`` when set)."""
    url = getattr(settings, "REDIS_URL", "") or ""
    throttle = _throttles.get(url)
    if throttle is None:
        with _throttles_lock:
            throttle = _throttles.setdefault(url, Throttle(url))
    return throttle.wait()
