"""Writes of the API's own records: tokens and idempotency keys."""

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from knox.models import AuthToken

from audit.services import audit_record
from invoices.models import Invoice
from payments.models import PaymentAttempt
from payments.services import top_up_by_card
from renewals.manual import renewal_pay, renewal_quote


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
    from tenants.scope import actor_for_user

    return actor_for_user(user)


def renewal_pay_once(
    *,
    actor,
    key: str,
    fingerprint: str,
    items: list[tuple[int, int]],
    align_day: int | None = None,
    pins: dict[int, datetime.date] | None = None,
    payment: str = "balance",
    auto_renew_next: frozenset[int] | set[int] = frozenset(),
    expected_total: Decimal | None = None,
    render: Callable[[Invoice], Any],
):
    """Quote and pay a manual renewal at most once per (login, Idempotency-Key)
    (api/idempotency.py explains why a retry never charges twice): the API's
    POST /api/renewals/ and the panel's pay form (its one-time form token is
    the key). Returns an
    ``Answer``: 201 and ``render(invoice)``, or the stored answer of the first
    request with this key; raises DomainError when the key is reused for
    another request or its first request is still running.

    ``pins`` (order id -> paid-thru date from the quote), when given, refuse
    the payment if an order was renewed since it was quoted; without them the
    paid-thru dates priced now are pinned, and kept with the key for retries.
    ``expected_total``, when given, refuses the payment (``price_changed``)
    unless the total now is the one the client showed.
    """
    from api.idempotency import idempotent

    def work(claim):
        pinned = pins
        if claim.pins is not None:  # a retry: pay the cycles the first attempt priced, or nothing
            pinned = {int(order_id): datetime.date.fromisoformat(day) for order_id, day in claim.pins.items()}
        quote = renewal_quote(actor=actor, items=items, align_day=align_day, pins=pinned)
        claim.pin({str(order_id): day.isoformat() for order_id, day in quote.pins.items()})
        invoice = renewal_pay(
            actor=actor,
            quote=quote,
            payment=payment,
            auto_renew_next=set(auto_renew_next),
            expected_total=expected_total,
        )
        return 201, render(invoice)

    # The card path commits its payment attempt before calling Stripe, so only
    # a balance payment can share one transaction with its stored answer.
    return idempotent(user=actor.user, key=key, fingerprint=fingerprint, work=work, atomic=payment == "balance")


def top_up_once(*, actor, key: str, fingerprint: str, amount: Decimal, render: Callable[[PaymentAttempt], Any]):
    """Top up the balance from the default card at most once per (login,
    Idempotency-Key): the API's POST /api/balance/top-up/ and the panel's
    top-up form (its one-time form token is the key). Returns an ``Answer``
    (201 and ``render(attempt)``, or the first request's stored answer);
    raises DomainError when the key is reused for another request or its
    first request is still running.

    A charge cannot share a transaction with the stored answer, so the card
    attempt's key is made from the claim: a retry that takes the claim over
    (after a 500 or a killed worker) finds the first attempt and resumes or
    returns it (payments.services.top_up_by_card ``once``), never charging
    again.
    """
    from api.idempotency import idempotent

    def work(claim):
        attempt = top_up_by_card(
            actor=actor, account_id=actor.customer_id, amount=amount, once=f"idem{claim.record_id}"
        )
        return 201, render(attempt)

    return idempotent(user=actor.user, key=key, fingerprint=fingerprint, work=work)
