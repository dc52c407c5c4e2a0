"""Card charges (Stripe): making one, settling it (payments.settlement: the
handler of the attempt's purpose), reconciling the ones whose outcome is
open, and an operator's decision on those that stay open.

A charge follows ARCHITECTURE.md's card path: the attempt row and its
idempotency key are committed first, then Stripe is called with no database
transaction open. On-session charges (top-ups, manual renewals) create the
PaymentIntent unconfirmed, store its id, then confirm it; off-session
charges (the nightly sweep's) create and confirm in one request, with the
attempt id in the intent's metadata. A refusal fails the attempt and
releases what it held; an answer that never came makes it ``unknown``:
reconciliation retrieves the PaymentIntent by its stored id, or finds it by
the attempt id, and settles it; nothing charges again.
"""

import datetime
import logging

import stripe
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record
from core.dates import business_today
from core.errors import DomainError, NotFound
from core.isolation import Subject, each, fault_record
from core.models import Stage
from core.money import format_money, to_minor_units
from core.parse import id_or_none
from payments.gateway import NO_ANSWER, PORTALS_FAULT, REFUSED, intent_of_attempt, stripe_client, stripe_configured
from payments.models import OPEN, AttemptState, PaymentAttempt
from payments.rules import in_flight, needs_decision, reconcile_delay
from payments.settlement import orders_of, settle
from tenants.scope import Actor

log = logging.getLogger("payments")


def charge(attempt: PaymentAttempt, *, actor: Actor) -> None:
    """Make the attempt's one charge and settle it. Safe to call again: an
    attempt that has a PaymentIntent is never charged anew, only looked up.

    Whatever happens, the attempt does not stay ``pending``: it is settled
    (succeeded, failed), or ``unknown`` for reconciliation, which also takes
    any attempt left pending by a crash once it is a few minutes old.
    """
    if attempt.state != AttemptState.PENDING:
        return
    stripe_client()
    try:
        _charge(attempt, actor=actor)
    except Exception as exc:  # noqa: BLE001 - an answer nobody foresaw, or a bug: reconciliation takes it from Stripe's record
        log.exception("card attempt %s: unexpected error; left unknown for reconciliation", attempt.pk)
        _mark_unknown(attempt, f"unexpected error: {type(exc).__name__}: {exc}")
        fault_record(stage=Stage.CARD, subject=attempt_subject(attempt), on=business_today(), error=exc)


def _charge(attempt: PaymentAttempt, *, actor: Actor) -> None:
    stripe = stripe_client()
    try:
        if attempt.stripe_payment_intent_id:
            intent = _confirm(attempt)
        elif attempt.off_session:
            # One request: localstripe takes ``off_session`` only on a create
            # that confirms. Its id cannot be stored before money may move,
            # so a lost reply is found again by the attempt id in the
            # intent's metadata (reconciliation, intent_of_attempt).
            intent = _create(attempt, off_session=True, confirm=True)
        else:
            # Two requests: the id is stored before the confirm, so a lost
            # confirm reply is retrieved by id (and a webhook finds it).
            _create(attempt)
            intent = _confirm(attempt)
    except stripe.CardError as exc:
        _record_decline(attempt, decline_code(exc))
        settle(attempt, AttemptState.FAILED, actor=actor, error=_declined(exc))
        return
    except NO_ANSWER as exc:
        _mark_unknown(attempt, f"no answer from the card processor: {type(exc).__name__}: {exc}")
        return
    except REFUSED as exc:
        _refused(attempt, exc, actor=actor)
        return
    _settle_from_intent(attempt, intent, actor=actor)


def _create(attempt: PaymentAttempt, **confirm_options):
    stripe = stripe_client()
    try:
        intent = stripe.PaymentIntent.create(
            # In the currency's minor units (1000 JPY is 1000, 10.00 USD is 1000).
            amount=to_minor_units(attempt.amount, attempt.currency),
            currency=attempt.currency.lower(),
            customer=attempt.account.stripe_customer_id,
            payment_method=attempt.card.stripe_payment_method_id,
            metadata={"attempt": str(attempt.pk), "purpose": attempt.purpose},
            idempotency_key=attempt.idempotency_key,
            **confirm_options,
        )
    except stripe.CardError as exc:
        # A create that confirms and is declined still made an intent: keep its id.
        _store_intent_id(attempt, ((exc.json_body or {}).get("error") or {}).get("payment_intent", {}).get("id", ""))
        raise
    # Stored at once: from here on the charge can be found again by its id.
    _store_intent_id(attempt, intent.id)
    return intent


def _confirm(attempt: PaymentAttempt):
    return stripe_client().PaymentIntent.confirm(
        attempt.stripe_payment_intent_id, idempotency_key=f"{attempt.idempotency_key}-confirm"
    )


def _store_intent_id(attempt: PaymentAttempt, intent_id: str) -> None:
    if intent_id and not attempt.stripe_payment_intent_id:
        PaymentAttempt.objects.filter(pk=attempt.pk, stripe_payment_intent_id="").update(
            stripe_payment_intent_id=intent_id
        )
        attempt.stripe_payment_intent_id = intent_id


def attempt_of_intent(intent) -> PaymentAttempt | None:
    """The attempt a PaymentIntent (from Stripe: a webhook's object) was made
    for: by its stored id, else (a sweep charge whose reply was lost, so no
    id was stored) by the attempt id in its metadata, for the same Stripe
    customer, and the id is stored then. None for an intent without an id."""
    data = intent.to_dict()
    if not data.get("id"):
        return None
    attempt = PaymentAttempt.objects.filter(stripe_payment_intent_id=data["id"]).first()
    if attempt is not None:
        return attempt
    claimed = id_or_none(str((data.get("metadata") or {}).get("attempt") or ""))
    if claimed is None:
        return None
    attempt = (
        PaymentAttempt.objects.select_related("account")
        .filter(pk=claimed, stripe_payment_intent_id="", account__stripe_customer_id=data.get("customer") or "-")
        .first()
    )
    if attempt is not None:
        _store_intent_id(attempt, data["id"])
    return attempt


def decline_code(exc) -> str:
    """The most specific code Stripe gave a declined charge: the issuer's
    ``decline_code`` (lost_card, stolen_card, do_not_honor...) when there is
    one, else the error's ``code`` (expired_card, card_declined...)."""
    error = getattr(exc, "error", None)
    specific = getattr(error, "decline_code", None) if error is not None else None
    if not specific:
        specific = ((exc.json_body or {}).get("error") or {}).get("decline_code") if exc.json_body else None
    return str(specific or exc.code or "")[:40]


def _record_decline(attempt: PaymentAttempt, code: str) -> None:
    """Keep the decline code on the attempt, before it is settled: its
    purpose's handler reads it (a renewal's hard decline blocks the card)."""
    if code:
        PaymentAttempt.objects.filter(pk=attempt.pk).update(decline_code=code)
        attempt.decline_code = code


def card_retry_block(*, card_id: int, until: datetime.date, code: str) -> bool:
    """Stop the nightly card retries of a card a hard decline refused, up to
    and including ``until`` (the cycle's last paid-thru date): only a later
    date moves it. Returns whether it changed."""
    from payments.models import Card

    blocked = Q(retry_blocked_until__isnull=True) | Q(retry_blocked_until__lt=until)
    return bool(Card.objects.filter(blocked, pk=card_id).update(retry_blocked_until=until, blocked_code=code[:40]))


def card_retry_unblock(*, card_id: int | None) -> bool:
    """The card paid again, in its holder's presence (or the processor
    updated it): the nightly run may charge it again. Returns whether it was
    blocked."""
    from payments.models import Card

    if card_id is None:
        return False
    return bool(
        Card.objects.filter(pk=card_id, retry_blocked_until__isnull=False).update(
            retry_blocked_until=None, blocked_code=""
        )
    )


def _declined(exc) -> str:
    if exc.code == "authentication_required":  # off-session: Stripe's answer for a card that needs 3-D Secure
        return NEEDS_AUTHENTICATION
    return exc.user_message or str(exc)


NEEDS_AUTHENTICATION = "the card needs your authentication: pay in the browser"


def _refused(attempt: PaymentAttempt, exc: Exception, *, actor: Actor) -> None:
    """Stripe refused the request as made (invalid, below the minimum, a card
    detached, our key or account refused)."""
    stripe = stripe_client()
    if attempt.stripe_payment_intent_id:
        # A confirm refused: the intent may have been confirmed already (a
        # second confirm is refused), so its real status decides.
        try:
            intent = stripe.PaymentIntent.retrieve(attempt.stripe_payment_intent_id)
        except (*NO_ANSWER, *REFUSED) as lookup:
            _mark_unknown(attempt, f"confirm refused ({exc}), then no status: {type(lookup).__name__}: {lookup}")
            return
        if intent.status != "requires_confirmation":
            _settle_from_intent(attempt, intent, actor=actor)
            return
    elif isinstance(exc, stripe.IdempotencyError):
        # The key was used before: an intent may exist. Reconciliation finds
        # it by the attempt id, or fails the attempt when there is none.
        _mark_unknown(attempt, f"idempotency key reused: {exc}")
        return
    if isinstance(exc, PORTALS_FAULT):
        # Our key or account, not the customer's card: the operators are told,
        # the customer is not blamed (a renewal batch fails with internal_error).
        log.error("card attempt %s: Stripe refused the portal's request: %s", attempt.pk, exc)
        fault_record(stage=Stage.CARD, subject=attempt_subject(attempt), on=business_today(), error=exc)
        settle(attempt, AttemptState.FAILED, actor=actor, error=PROCESSOR_UNAVAILABLE, internal=True)
        return
    settle(attempt, AttemptState.FAILED, actor=actor, error=getattr(exc, "user_message", None) or str(exc))


PROCESSOR_UNAVAILABLE = "the card processor refused the portal's request; nothing was charged, our operators are told"


def _mark_unknown(attempt: PaymentAttempt, error: str) -> None:
    PaymentAttempt.objects.filter(pk=attempt.pk, state__in=OPEN).update(state=AttemptState.UNKNOWN, error=error[:2000])


def _settle_from_intent(attempt: PaymentAttempt, intent, *, actor: Actor) -> None:
    if intent.status == "succeeded":
        if settle(attempt, AttemptState.SUCCEEDED, actor=actor) and not attempt.off_session:
            # Paid with its holder present (a manual renewal, a top-up): a
            # hard decline's block no longer holds (docs/dunning.md).
            card_retry_unblock(card_id=attempt.card_id)
    elif intent.status in ("requires_action", "requires_payment_method", "canceled"):
        error = NEEDS_AUTHENTICATION if intent.status == "requires_action" else ""
        failure = intent.to_dict().get("last_payment_error") or {}
        _record_decline(attempt, str(failure.get("decline_code") or failure.get("code") or "")[:40])
        last = failure.get("message", "")
        settle(attempt, AttemptState.FAILED, actor=actor, error=error or last or intent.status)
    else:  # processing, requires_confirmation: not settled yet
        _mark_unknown(attempt, f"payment intent is {intent.status}")


def attempt_subject(attempt: PaymentAttempt) -> Subject:
    """The attempt as a fault's subject (one fault per attempt and day)."""
    return Subject(
        key=f"attempt:{attempt.pk}",
        label=f"card {attempt.get_purpose_display().lower()} {format_money(attempt.amount, attempt.currency)}"
        f" of account {attempt.account_id}, made {attempt.created_at:%Y-%m-%d %H:%M}, {attempt.state}",
        customer_id=attempt.account_id,
        orders=orders_of(attempt),
    )


class AttemptAwaitsDecision(Exception):
    """An attempt still open days after it was made: an operator checks it at
    Stripe and settles it as paid or failed (admin, payment_attempt_decide)."""


def payment_attempts_reconcile(*, actor: Actor | None = None) -> dict[str, int]:
    """Settle the open attempts from Stripe's record of their PaymentIntent:
    every ``unknown`` one, and every ``pending`` one older than the reconcile
    delay (its charge was interrupted). Each on its own (core.isolation): one
    attempt's error is recorded as a fault, the others go on. Never charges
    again: an intent is retrieved by its stored id, or found by the attempt
    id in its metadata; an intent created but never confirmed is confirmed
    under its own id. An attempt still open after DECISION_AFTER_DAYS is
    flagged for an operator (a fault, mailed once). Returns the counts."""
    actor = actor or Actor.system("reconciliation")
    stripe_client()
    now = timezone.now()
    open_attempts = PaymentAttempt.objects.filter(
        Q(state=AttemptState.UNKNOWN) | Q(state=AttemptState.PENDING, created_at__lte=now - reconcile_delay())
    )
    counts = {"settled": 0, "still_unknown": 0}
    unreachable: list[Exception] = []

    def reconcile(attempt: PaymentAttempt) -> None:
        if not unreachable:
            try:
                _reconcile(attempt, actor=actor, now=now)
            except stripe.APIConnectionError as exc:
                # Stripe is down: the others wait for the next pass rather
                # than each wait for a timeout (the sweep may be next).
                unreachable.append(exc)
        if not PaymentAttempt.objects.filter(pk=attempt.pk, state__in=OPEN).exists():
            counts["settled"] += 1
            return
        counts["still_unknown"] += 1
        if needs_decision(attempt.created_at, now):
            _flag(attempt, now)

    failed = each(
        open_attempts.select_related("account", "card").order_by("pk"),
        reconcile,
        stage=Stage.RECONCILIATION,
        subject=attempt_subject,
        atomic=False,  # network calls: no transaction may be open around them
    )
    counts["still_unknown"] += len(failed.failed)
    if unreachable:
        log.warning("reconciliation: the card processor did not answer; the open attempts wait for the next pass")
        fault_record(stage=Stage.RECONCILIATION, subject=PROCESSOR, on=business_today(), error=unreachable[0])
    return counts


PROCESSOR = Subject(key="processor:stripe", label="the card processor (Stripe) did not answer reconciliation")


def payment_reconciliation_pass() -> dict[str, int] | None:
    """A pass as the scheduled work runs it (every few minutes, and first in
    the nightly task): nothing without Stripe configured; a pass that cannot
    even start (no key accepted, the database) is recorded as a fault and
    never raised, so the work after it goes on (the faults are mailed to
    the operators by core.isolation.faults_alert's pass)."""
    if not stripe_configured():
        return None
    counts: dict[str, int] = {}
    each(
        ["pass"],
        lambda _: counts.update(payment_attempts_reconcile()),
        stage=Stage.RECONCILIATION,
        subject=lambda _: Subject(key="reconciliation", label="a payment reconciliation pass"),
        atomic=False,
    )
    return counts or None


def _flag(attempt: PaymentAttempt, now: datetime.datetime) -> None:
    """A fault for the operators, one per attempt and day (its uniqueness), so
    faults_alert mails it once; an attempt that failed to reconcile the same
    day shares that fault."""
    days = (now - attempt.created_at).days
    log.warning("card attempt %s still open after %d days: awaiting an operator's decision", attempt.pk, days)
    problem = AttemptAwaitsDecision(
        f"card attempt {attempt.pk} is still open {days} days after it was made: check it at Stripe, then settle"
        " it as paid or as failed in the admin (its orders are kept from termination meanwhile)"
    )
    fault_record(stage=Stage.RECONCILIATION, subject=attempt_subject(attempt), on=business_today(), error=problem)


def _reconcile(attempt: PaymentAttempt, *, actor: Actor, now: datetime.datetime) -> None:
    stripe = stripe_client()
    if attempt.stripe_payment_intent_id:
        intent = stripe.PaymentIntent.retrieve(attempt.stripe_payment_intent_id)
    else:
        intent = intent_of_attempt(attempt.account.stripe_customer_id, attempt.pk)
        if intent is None:
            if not in_flight(attempt.created_at, now):
                # No intent carries its id minutes after it was made: the
                # create never reached Stripe, nothing was charged.
                settle(attempt, AttemptState.FAILED, actor=actor, error=NEVER_REACHED)
            return
        _store_intent_id(attempt, intent.id)
    if intent.status == "requires_confirmation":
        _charge(attempt, actor=actor)  # created, never confirmed: confirmed now, under the same id
    else:
        _settle_from_intent(attempt, intent, actor=actor)


NEVER_REACHED = "the charge never reached the card processor; nothing was charged"


def payment_attempt_decide(
    *, actor: Actor, attempt_id: int, state: str, reason: str, payment_intent_id: str = ""
) -> PaymentAttempt:
    """An operator's decision on an attempt reconciliation could not settle,
    after checking it at Stripe: settled as paid or as failed through the same
    path as a webhook or reconciliation (a renewal renews, or releases its
    hold and claim), audited with the reason. ``payment_intent_id``: the
    charge found at Stripe, recorded when the attempt has none."""
    if state not in (AttemptState.SUCCEEDED, AttemptState.FAILED):
        raise DomainError("an attempt is settled as paid (succeeded) or failed", code="invalid_state")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("say why: the decision is audited with its reason", code="reason_required")
    attempts = PaymentAttempt.objects.visible_to(actor).select_related("account__customer", "card")
    attempt = attempts.filter(pk=attempt_id).first()
    if attempt is None:
        raise NotFound(f"payment attempt {attempt_id} not found")
    if attempt.state not in OPEN:
        raise DomainError(f"attempt {attempt.pk} is already {attempt.state}", code="already_settled")
    if in_flight(attempt.created_at, timezone.now()):
        raise DomainError(
            f"attempt {attempt.pk} may still be charging: reconciliation settles it within minutes",
            code="in_flight",
        )
    before = attempt.state
    with transaction.atomic():
        _store_intent_id(attempt, payment_intent_id.strip())
        error = "" if state == AttemptState.SUCCEEDED else DECIDED_FAILED
        if not settle(attempt, state, actor=actor, error=error):
            raise DomainError(f"attempt {attempt.pk} was settled meanwhile", code="already_settled")
        audit_record(
            actor=actor,
            action="payment_attempt.decide",
            target=attempt,
            before=before,
            after=state,
            reason=reason,
            business_date=business_today(),
        )
    attempt.refresh_from_db()
    return attempt


DECIDED_FAILED = "the card payment did not go through"
