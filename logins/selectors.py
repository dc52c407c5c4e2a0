"""Reads of a login's API token (its digest and dates, never a key: only its
digest is stored)."""

import datetime

from django.utils import timezone
from knox.models import AuthToken
from knox.settings import CONSTANTS


def token_of(user) -> AuthToken | None:
    """The login's token, or None (one per login: logins.services.token_create)."""
    return AuthToken.objects.filter(user=user).order_by("-created").first()


def tokens_with_key_prefix(key: str):
    """The tokens whose short stored prefix (knox's token_key) the key starts
    with, with their logins: authentication compares each one's digest."""
    return AuthToken.objects.filter(token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH]).select_related("user")


def token_expired(token, now: datetime.datetime | None = None) -> bool:
    """Whether ``token`` (a knox AuthToken, or logins.services.IssuedToken) no
    longer opens the API: its expiry (None: never) is past."""
    return token.expiry is not None and token.expiry <= (now or timezone.now())
