"""``Idempotency-Key`` for requests that move money (POST /api/renewals/,
POST /api/balance/top-up/, and the customer panel's pay and top-up forms,
whose one-time form token is the key): once.services runs them through here.

A client that does not know whether its request went through (a timeout, a
dropped connection, a double click) sends it again with the same key and
gets the first answer back, never a second charge. Keys are scoped per login.

1. Claim: an INSERT of (user, key, fingerprint, in_progress) in its own
   transaction. The unique (user, key) constraint decides between requests
   racing with one key; a loser reads the winner's row and answers
   ``idempotency_key_reused`` (422) if its body differs, the stored answer if
   the winner is done (``Idempotent-Replayed: true``), or
   ``idempotency_in_progress`` (409) while the winner runs.
2. Work: the service runs; it may remember what it pinned (``Claim.pin``)
   before paying.
3. Finish: the answer, a success or a business refusal (4xx, as the caller's
   ``refused`` renders it), is stored with a conditional UPDATE on the
   claim's holder. An unexpected error (a 500)
   releases the claim (state ``failed``) so the client may retry.

Why a crash between paying and storing the answer cannot charge twice:

- Paying from the balance, the payment and the stored answer commit in one
  transaction: both or neither.
- Paying by card cannot hold a transaction across the call to Stripe, so the
  paid-thru dates the first attempt priced (its pins) are stored on the claim
  before anything is charged. A retry after a failure (or after a process was
  killed: an in-progress claim older than ``STALE`` is taken over) re-uses
  those pins, and renewals.manual.renewal_pay checks them again under the
  account's lock: once the first attempt renewed a cycle, the pins no longer
  hold, the conditional ``UPDATE ... WHERE expires_on = <pin>`` and the unique
  (order, cycle) invoice line (``renewal_once_per_order_and_cycle``) refuse a
  second renewal of that cycle, and the retry is answered
  ``renewed_meanwhile`` (409) with nothing charged. While the first card
  payment is still in flight its claimed orders answer ``payment_in_progress``.
  This is why the claim is kept (``failed``), not deleted, after a 500: a
  deleted claim would lose the pins and a retry without pins would renew the
  next cycle.
- A card top-up's payment attempt takes its key from the claim's id
  (once.services.top_up_once): a retry finds that attempt and resumes or
  returns it (the unique ``payment_attempt_key_unique``), never a second one.

Keys are kept ``KEEP`` (24 hours); after that the same key is a new request.
``idempotency_keys_purge`` deletes the old rows; an expired row met by a new
claim is deleted there and then, so reuse after 24 hours does not depend on
the purge having run. Beat runs it (once.tasks.idempotency_keys_purge).
"""

import datetime
import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import DomainError
from once.models import IdempotencyKey, IdempotencyState

log = logging.getLogger("once.idempotency")

KEEP = datetime.timedelta(hours=24)
# A claim in progress for longer than this belongs to a request that died
# (a killed worker); its retry may take it over (the stored pins keep it safe).
STALE = datetime.timedelta(minutes=10)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    replayed: bool = False


@dataclass(frozen=True)
class Claim:
    record_id: int
    holder: str
    pins: dict | None  # what an earlier attempt with this key pinned, if any

    def pin(self, pins: dict) -> None:
        """Remember what this attempt is about to pay for, before paying."""
        IdempotencyKey.objects.filter(pk=self.record_id, holder=self.holder).update(pins=pins)


class _ClaimLost(Exception):
    """A retry took the claim over meanwhile (this request ran past STALE)."""


def request_fingerprint(*, method: str, path: str, body: Any) -> str:
    """sha256 of the method, the path and the body as canonical JSON (sorted
    keys, no spaces), so that key order and spacing do not make two requests
    different."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder)
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()


def idempotent(
    *,
    user,
    key: str,
    fingerprint: str,
    work: Callable[[Claim], tuple[int, Any]],
    refused: Callable[[DomainError], tuple[int, Any]],
    atomic: bool = False,
    now: datetime.datetime | None = None,
) -> Answer:
    """Run ``work`` once per (user, key): claim, work, store the answer.

    ``work(claim)`` returns (status, JSON-able body) or raises a DomainError,
    stored as the answer ``refused(error)`` gives: (status, JSON-able body),
    the face's own error shape. ``atomic``: run the work and store its
    answer in one transaction (only for work that makes no network call).
    """
    claimed = idempotency_claim(user=user, key=key, fingerprint=fingerprint, now=now)
    if isinstance(claimed, Answer):
        return claimed
    claim = claimed
    try:
        with transaction.atomic() if atomic else nullcontext():
            status, body = work(claim)
            if not _finish(claim, status, body) and atomic:
                raise _ClaimLost  # roll the work back: the request holding the claim answers
    except _ClaimLost:
        raise _in_progress() from None
    except DomainError as exc:
        status, body = refused(exc)
        _finish(claim, status, body)
    except BaseException:
        try:
            _release(claim)
        except Exception:  # the database went away too: the claim goes stale and a retry takes it over
            log.exception("could not release idempotency claim %s", claim.record_id)
        raise
    return Answer(status, body)


def idempotency_claim(*, user, key: str, fingerprint: str, now: datetime.datetime | None = None) -> Claim | Answer:
    """Claim (user, key) for this request, or the stored answer to replay.

    Raises DomainError ``idempotency_key_reused`` (another request used the
    key) or ``idempotency_in_progress`` (the first request still runs)."""
    now = now or timezone.now()
    holder = uuid.uuid4().hex
    for _ in range(2):
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    user=user, key=key, fingerprint=fingerprint, holder=holder, claimed_at=now, created_at=now
                )
            return Claim(record.pk, holder, None)
        except IntegrityError:
            pass  # the key is taken: see by whom
        record = IdempotencyKey.objects.filter(user=user, key=key).first()
        if record is None:
            continue  # purged meanwhile
        if record.created_at < now - KEEP:
            IdempotencyKey.objects.filter(pk=record.pk, created_at=record.created_at).delete()
            continue  # expired: the key is free again
        if record.fingerprint != fingerprint:
            raise DomainError(
                "this Idempotency-Key was already used for a different request; "
                "use a new key for a new request (keys are kept 24 hours)",
                code="idempotency_key_reused",
            )
        if record.state == IdempotencyState.DONE:
            return Answer(record.response_status, json.loads(record.response_body), replayed=True)
        retake = Q(state=IdempotencyState.FAILED) | Q(state=IdempotencyState.IN_PROGRESS, claimed_at__lt=now - STALE)
        taken = (
            IdempotencyKey.objects.filter(pk=record.pk, fingerprint=fingerprint)
            .filter(retake)
            .update(state=IdempotencyState.IN_PROGRESS, holder=holder, claimed_at=now)
        )
        if taken:
            # Read after taking over: the earlier holder can no longer change the pins.
            pins = IdempotencyKey.objects.filter(pk=record.pk).values_list("pins", flat=True).get()
            return Claim(record.pk, holder, pins)
        break
    raise _in_progress()


def idempotency_keys_purge(*, now: datetime.datetime | None = None) -> int:
    """Forget keys older than 24 hours (their keys may be used again); returns
    how many. Safe to run at any time and more than once."""
    now = now or timezone.now()
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=now - KEEP).delete()
    return deleted


def _finish(claim: Claim, status: int, body: Any) -> bool:
    return bool(
        IdempotencyKey.objects.filter(
            pk=claim.record_id, holder=claim.holder, state=IdempotencyState.IN_PROGRESS
        ).update(
            state=IdempotencyState.DONE,
            response_status=status,
            response_body=json.dumps(body, cls=DjangoJSONEncoder),
        )
    )


def _release(claim: Claim) -> None:
    IdempotencyKey.objects.filter(pk=claim.record_id, holder=claim.holder, state=IdempotencyState.IN_PROGRESS).update(
        state=IdempotencyState.FAILED
    )


def _in_progress() -> DomainError:
    return DomainError(
        "a request with this Idempotency-Key is still in progress; retry in a moment to get its answer",
        code="idempotency_in_progress",
    )
