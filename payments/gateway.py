"""The Stripe SDK, configured from settings: one place that knows the keys.

The SDK's own network retries are off: a retry is our decision, made from our
records (payments.models.PaymentAttempt), never a silent second request.
"""

import stripe
from django.conf import settings

from core.errors import DomainError


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
    return stripe
