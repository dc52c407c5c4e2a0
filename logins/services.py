"""Writes of a login's API token (django-rest-knox keeps its digest, never
the key): the API's token request, the panels' token page, Django admin and a
change of password (api.signals) all go through these."""

import datetime
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from knox.models import AuthToken

from audit.services import audit_record
from core.actors import actor_for_user


@dataclass(frozen=True)
class IssuedToken:
    key: str  # in clear only here: the database keeps knox's digest of it
    prefix: str  # knox's token_key, the key's first characters (not enough to use it)
    created: datetime.datetime
    expiry: datetime.datetime | None  # None: it never expires (API_TOKEN_TTL_DAYS=0)


def token_create(*, user) -> IssuedToken:
    """A new API token for the login, replacing the one it had (one per login),
    valid for REST_KNOX["TOKEN_TTL"] (API_TOKEN_TTL_DAYS). Its key exists in
    clear only in the answer: show it once."""
    with transaction.atomic():
        # The login's row lock serialises two requests for a token at once,
        # which would otherwise each delete the old token and leave two.
        get_user_model().objects.select_for_update().only("pk").get(pk=user.pk)
        replaced = list(AuthToken.objects.filter(user=user).values_list("token_key", flat=True))
        AuthToken.objects.filter(user=user).delete()
        row, key = AuthToken.objects.create(user=user)
        audit_record(
            actor=_actor(user),
            action="api.token_issue",
            target=user,
            before={"token": replaced[0][:6] + "…"} if replaced else None,
            after={"token": row.token_key[:6] + "…", "expiry": row.expiry.isoformat() if row.expiry else None},
        )
    return IssuedToken(key=key, prefix=row.token_key, created=row.created, expiry=row.expiry)


def token_issue(*, user) -> str:
    """A new API token's key (token_create, for scripts and tests that only need the key)."""
    return token_create(user=user).key


def token_revoke(*, user, by=None, reason: str = "") -> bool:
    """Revoke the login's token; returns whether there was one. ``by``: the
    login that revoked it (an admin), when not the login itself."""
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    if deleted:
        audit_record(actor=_actor(by or user), action="api.token_revoke", target=user, reason=reason)
    return bool(deleted)


def _actor(user):
    return actor_for_user(user)
