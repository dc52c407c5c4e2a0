"""Signing in, with a throttle on failed sign-ins: the control panels' form
here, the API's token request (api.views.auth) with the same form, and the
admin's (staff.otp_views) through the same mixins.

Passwords get guessed at one account (many passwords, one username) or from one
place (one password, many usernames). So attempts are counted per account and
per client address; once either count reaches its limit within the window,
further attempts are refused without looking at the password, so a refused
guess tells the guesser nothing.

Each attempt is counted *before* its password is checked and given back when it
succeeds: counting only after a failure would let a burst of parallel guesses
all pass the check while the first one is still being hashed.

The window starts at the first counted attempt and the count is forgotten when
it ends (a fixed window: one cache key per account or address, incremented
atomically, which Redis and LocMemCache both do). Over time that allows at most
the limit per window; a burst straddling two windows can reach twice the limit.

The counts live in Django's cache. Without REDIS_URL that is LocMemCache, which
is per process: several gunicorn workers each keep their own count.
"""

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.core.exceptions import ValidationError

from core.net import client_address

# The names it had as panels.auth: monitoring reads the logger, and the cache
# keeps counting across a deploy.
logger = logging.getLogger("panels.auth")

# Defaults; settings of the same name override them (read on every attempt).
LOGIN_FAILURE_LIMIT_ACCOUNT = 5
LOGIN_FAILURE_LIMIT_ADDRESS = 20
LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60

ACCOUNT = "account"
ADDRESS = "address"

KEY_PREFIX = "panels.auth.failures"


def setting(name: str) -> int:
    return int(getattr(settings, name, globals()[name]))


# --- The counting: pure decisions, then a counter over a cache. ---


def over_limit(count: int, limit: int) -> bool:
    """``count`` includes the attempt being made: with a limit of 5 the fifth
    attempt still gets its password checked, the sixth does not."""
    return count > limit


def minutes_left(window_ends_at: float | None, now: float, window: int) -> int:
    """Whole minutes until the window ends, rounded up and at least 1 (never
    "try again in 0 minutes"). Unknown end: the whole window."""
    seconds = window if window_ends_at is None else window_ends_at - now
    return max(1, math.ceil(seconds / 60))


def normalise_username(username: str) -> str:
    # Case-insensitive, so "Owner" and "owner" share one count even though
    # only one of them can sign in.
    return username.strip().casefold()


def key_for(scope: str, value: str) -> str:
    # Hashed: usernames may hold characters a cache key cannot, and the cache
    # need not hold a list of who was attacked.
    return f"{KEY_PREFIX}:{scope}:{hashlib.sha256(value.encode()).hexdigest()}"


@dataclass(frozen=True)
class Refusal:
    scope: str  # ACCOUNT or ADDRESS
    minutes: int  # until the window ends, when trying again is allowed

    @property
    def message(self) -> str:
        wait = f"{self.minutes} minute{'' if self.minutes == 1 else 's'}"
        if self.scope == ACCOUNT:
            # A password reset does not lift the refusal: it lets someone who
            # forgot the password use the waiting time.
            return (
                f"Too many failed sign-ins for this account. Try again in {wait}. "
                "If you have forgotten your password, reset it in the meantime."
            )
        return (
            f"Too many failed sign-ins from your network address. Try again in {wait}, "
            "or ask your provider for help if you share this address with many people."
        )


class AttemptCounter:
    """Attempts per key within a window that starts at the first attempt."""

    def __init__(self, backend=None, clock=time.time):
        self.backend = backend if backend is not None else cache
        self.clock = clock

    def take(self, key: str, limit: int, window: int) -> int | None:
        """Count one attempt. None when it may go ahead, else the minutes
        until the window ends: the attempt must be refused, and is not counted
        (only attempts that go ahead count against the limit)."""
        now = self.clock()
        # add() only writes when the key is absent: the first attempt opens
        # the window, later ones leave its end where it is.
        self.backend.add(f"{key}:ends", now + window, timeout=window)
        self.backend.add(key, 0, timeout=window)
        try:
            count = self.backend.incr(key)
        except ValueError:  # the window ended between add() and incr()
            self.backend.set(key, 1, timeout=window)
            count = 1
        if not over_limit(count, limit):
            return None
        self.give_back(key)
        return minutes_left(self.backend.get(f"{key}:ends"), now, window)

    def give_back(self, key: str) -> None:
        """Uncount an attempt that turned out not to be a failure."""
        try:
            self.backend.decr(key)
        except ValueError:  # the window ended meanwhile: nothing to give back
            pass

    def clear(self, key: str) -> None:
        self.backend.delete_many([key, f"{key}:ends"])


# --- Sign-in attempts: both counts together. ---


def begin_attempt(username: str, address: str | None, counter: AttemptCounter | None = None) -> Refusal | None:
    """Count a sign-in attempt for ``username`` from ``address`` before its
    password is checked. A Refusal means: do not check the password. Otherwise
    the attempt counts as failed unless ``attempt_succeeded`` is called."""
    counter = counter or AttemptCounter()
    window = setting("LOGIN_FAILURE_WINDOW_SECONDS")
    account_key = key_for(ACCOUNT, normalise_username(username))
    minutes = counter.take(account_key, setting("LOGIN_FAILURE_LIMIT_ACCOUNT"), window)
    if minutes is not None:
        return Refusal(ACCOUNT, minutes)
    if address:
        minutes = counter.take(key_for(ADDRESS, address), setting("LOGIN_FAILURE_LIMIT_ADDRESS"), window)
        if minutes is not None:
            # The password was never checked: not a failure for the account.
            counter.give_back(account_key)
            return Refusal(ADDRESS, minutes)
    return None


def attempt_succeeded(username: str, address: str | None, counter: AttemptCounter | None = None) -> None:
    """The right password: the account starts afresh. The address only gets
    this attempt back, so one good login cannot wipe a spraying run's count."""
    counter = counter or AttemptCounter()
    counter.clear(key_for(ACCOUNT, normalise_username(username)))
    if address:
        counter.give_back(key_for(ADDRESS, address))


# --- Django glue: one throttle for every sign-in form (the panels' and the admin's). ---


class ThrottledFormMixin:
    """For an ``AuthenticationForm``: the throttle around everything the
    form's own ``clean()`` checks (the password, and for the admin the second
    factor). An attempt refused by any of those stays counted; one that passes
    them all is given back."""

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()  # a field is missing: no password gets checked
        address = client_address(self.request)
        refusal = begin_attempt(username, address)
        if refusal is not None:
            logger.warning(
                "sign-in refused (%s limit): username=%r address=%s retry_in=%dmin",
                refusal.scope,
                username,
                address,
                refusal.minutes,
            )
            raise ValidationError(refusal.message, code="throttled")
        cleaned = super().clean()  # raises on a wrong password (or code): the attempt stays counted
        attempt_succeeded(username, address)
        return cleaned


class ThrottledResponseMixin:
    """For a ``LoginView`` whose form has ``ThrottledFormMixin``."""

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.has_error("__all__", code="throttled"):
            # 429 lets monitoring and proxies see the refusals; browsers still show the page.
            response.status_code = 429
        return response


class ThrottledAuthenticationForm(ThrottledFormMixin, AuthenticationForm):
    pass


class ThrottledLoginView(ThrottledResponseMixin, LoginView):
    form_class = ThrottledAuthenticationForm
