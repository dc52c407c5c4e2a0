"""The Stripe SDK, configured from settings: one place that knows the keys.

The SDK's own network retries are off: a retry is our decision, made from our
records (payments.models.PaymentAttempt), never a silent second request. The
one retry made here is of a 429, which Stripe answers before doing anything
(ProcessorClient); every request waits for its slot in the portal's rate
(payments.throttle).

Every request has a timeout (SPEC "Money": connect 10 s, read 30 s), so a
slow processor makes an attempt ``unknown`` for reconciliation instead of
holding a sweep worker for the SDK's default 80 s, or for ever.
"""

import logging
import os
import random
import time
from decimal import Decimal

import stripe
from django.conf import settings

from core.errors import DomainError
from core.money import minor_unit
from payments.throttle import processor_slot_wait

log = logging.getLogger("payments")

CONNECT_TIMEOUT = 10
READ_TIMEOUT = 30


# A 429 (stripe.RateLimitError: too many requests, or an object locked by
# another request) is tried again this many times in all, after a backoff
# that doubles from BACKOFF_SECONDS up to BACKOFF_CAP_SECONDS, with jitter so
# the threads and processes it stopped together do not come back together.
RATE_LIMITED_TRIES = 5
BACKOFF_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0


def backoff_seconds(retry: int) -> float:
    """The wait before the ``retry``-th retry (1, 2, ...): half the doubled
    step, plus up to as much again at random."""
    step = min(BACKOFF_CAP_SECONDS, BACKOFF_SECONDS * 2 ** (retry - 1))
    return step / 2 + random.uniform(0, step / 2)  # noqa: S311 - jitter, not a secret


class ProcessorClient(stripe.RequestsClient):
    """Every request to the processor goes through here: it waits for its
    slot in the portal's rate (payments.throttle, shared by every process),
    and a 429 is tried again after a backoff, a bounded number of times.

    Retrying a 429 is safe: Stripe refuses a rate-limited request before it
    does anything, and the retry carries the same idempotency key, so even
    a request carried out would answer with its first result. After the
    last try the SDK raises RateLimitError, which leaves the attempt
    ``unknown`` for reconciliation, as a reply that never came does
    (payments.charges): never a second charge."""

    def request(self, method, url, headers, post_data=None):
        for retry in range(RATE_LIMITED_TRIES):
            if retry:
                time.sleep(backoff_seconds(retry))
                log.info("card processor: %s %s answered 429; retry %d", method.upper(), url, retry)
            processor_slot_wait()
            response = super().request(method, url, headers, post_data)
            if response[1] != 429:
                break
        return response


def http_client() -> stripe.RequestsClient:
    """A client with the portal's timeouts, rate and retries of a 429."""
    return ProcessorClient(timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))


# One client per process: its sessions are per thread (the SDK's
# RequestsClient), so sweep threads never share a connection, and a forked
# sweep worker starts its own rather than reuse its parent's sockets.
_http_client = http_client()


def _fresh_client_after_fork() -> None:
    global _http_client
    _http_client = http_client()
    if stripe.default_http_client is not None:
        stripe.default_http_client = _http_client


os.register_at_fork(after_in_child=_fresh_client_after_fork)


# Stripe's minimum charge per currency ("Minimum and maximum charge amounts"
# in Stripe's documentation on currencies), in the currency's own units. A
# PaymentIntent below it is refused as an invalid request, so a renewal's
# card charge is raised to it (SPEC "Money"; renewals.rules.card_charge).
STRIPE_MINIMUM_CHARGE = {
    "USD": Decimal("0.50"),
    "AED": Decimal("2.00"),
    "AUD": Decimal("0.50"),
    "BGN": Decimal("1.00"),
    "BRL": Decimal("0.50"),
    "CAD": Decimal("0.50"),
    "CHF": Decimal("0.50"),
    "CZK": Decimal("15.00"),
    "DKK": Decimal("2.50"),
    "EUR": Decimal("0.50"),
    "GBP": Decimal("0.30"),
    "HKD": Decimal("4.00"),
    "HUF": Decimal("175.00"),
    "INR": Decimal("0.50"),
    "JPY": Decimal("50"),
    "MXN": Decimal("10.00"),
    "MYR": Decimal("2.00"),
    "NOK": Decimal("3.00"),
    "NZD": Decimal("0.50"),
    "PLN": Decimal("2.00"),
    "RON": Decimal("2.00"),
    "SEK": Decimal("3.00"),
    "SGD": Decimal("0.50"),
    "THB": Decimal("10.00"),
}


def minimum_charge(currency: str) -> Decimal:
    """The smallest card charge the processor takes in ``currency``.

    For a currency the table does not list, one minor unit: Stripe's minimum
    there is the equivalent of 0.50 USD in the account's settlement currency,
    which depends on a rate the portal does not know. A charge Stripe finds too
    small is then refused as an invalid request, and its attempt fails with
    Stripe's message (nothing charged, the renewal retried the next night)."""
    return STRIPE_MINIMUM_CHARGE.get(currency, minor_unit(currency))


class CardsUnavailable(DomainError):
    code = "cards_unavailable"


def stripe_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def stripe_client():
    """The configured ``stripe`` module; CardsUnavailable when no key is set."""
    if not stripe_configured():
        raise CardsUnavailable("card payments are not configured on this portal; pay from the balance")
    stripe.api_key = settings.STRIPE_SECRET_KEY
    if settings.STRIPE_API_BASE:
        stripe.api_base = settings.STRIPE_API_BASE
    stripe.max_network_retries = 0
    stripe.default_http_client = _http_client
    return stripe


# Answers that leave a charge's outcome open: none came (a timeout, a
# dropped connection), or one we cannot trust (a 5xx, a rate limit).
NO_ANSWER = (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError)
# Answers that refuse the request as made (4xx other than a card decline):
# Stripe did nothing with it.
REFUSED = (stripe.InvalidRequestError, stripe.AuthenticationError, stripe.PermissionError, stripe.IdempotencyError)
# Of those, the ones that are the portal's fault (its key, its account), not
# the customer's card.
PORTALS_FAULT = (stripe.AuthenticationError, stripe.PermissionError)


class AmbiguousIntent(Exception):
    """More than one PaymentIntent carries one attempt's id: never made by
    this portal (it creates one per attempt); an operator must look."""


def intent_of_attempt(customer_id: str, attempt_id: int):
    """The PaymentIntent created for ``attempt_id`` (its metadata says so)
    on the Stripe Customer ``customer_id``, or None when there is none.

    Stripe's search API finds it in one request (its index lags writes by up
    to a minute: callers trust "none" only for older attempts). Where search
    is not offered (localstripe answers 404; some Stripe regions), the
    PaymentIntents are paged through, 100 at a time.
    """
    stripe = stripe_client()
    try:
        query = f"customer:'{customer_id}' AND metadata['attempt']:'{attempt_id}'"
        found = list(stripe.PaymentIntent.search(query=query, limit=10).data)
    except stripe.InvalidRequestError:
        found = [
            intent
            for intent in stripe.PaymentIntent.list(limit=100).auto_paging_iter()
            if _carries(intent.to_dict(), customer_id, attempt_id)
        ]
    if len(found) > 1:
        raise AmbiguousIntent(f"{len(found)} payment intents carry attempt {attempt_id}: {[i.id for i in found]}")
    return found[0] if found else None


def _carries(intent: dict, customer_id: str, attempt_id: int) -> bool:
    return intent.get("customer") == customer_id and (intent.get("metadata") or {}).get("attempt") == str(attempt_id)
