"""Money the card processor moves on a payment after it was made (SPEC
"Money"): refunds (made at Stripe, or by an admin here) and disputes reach
the ledger, each once per processor object, even when they take the balance
below the credit limit, and the operators are mailed each one.

- The webhook (payments.webhooks) reads what an event moved
  (``processor_movements``, outside any transaction: it may ask Stripe for a
  charge's refunds) and records it (``movements_record``): one
  ``ProcessorMovement`` per refund or dispute and kind, and its ledger entry
  through ``ledger_post`` (kind refund, dispute or dispute_reversal, the
  processor's id as the reference), under the account's row lock.
- An admin's refund (``payment_refund``) is refused beyond what is left of
  the payment or beyond what the account can give back without going below
  its credit limit; its row is written and the amount held before Stripe is
  asked (the idempotency key is made from the row), then the answer posts
  the same refund entry. Its ``charge.refunded`` later finds the row by the
  refund's id or by the row's id in the refund's metadata: nothing more.
- ``movements_alert`` mails the operators (settings.ADMINS) the movements
  not yet told, claimed first and released again if the mail server fails
  (the every-minute delivery task takes them again).
"""

import logging
from dataclasses import dataclass
from decimal import Decimal

import stripe
from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from audit.services import audit_record
from balances.locks import lock_account
from balances.services import hold_place, hold_release, ledger_post
from core.dates import business_today
from core.errors import DomainError, NotFound
from core.isolation import Subject, each, operators_mail_once
from core.models import Stage
from core.money import ZERO, check_exact, format_money, from_minor_units, to_minor_units
from core.parse import id_or_none
from payments.gateway import NO_ANSWER, stripe_client, stripe_configured
from payments.models import AttemptState, MovementKind, MovementOrigin, PaymentAttempt, ProcessorMovement
from payments.rules import in_flight, reconcile_delay
from tenants.scope import Actor

log = logging.getLogger("payments.refunds")
OPEN = (AttemptState.PENDING, AttemptState.UNKNOWN)
# Refunds that move money: a pending one is on its way back to the card
# (Stripe counts it in a charge's amount_refunded); failed and canceled ones
# never moved any.
MOVING = ("succeeded", "pending")
# The events that move money after a payment; the other disputes' events
# (updated) and an inquiry's (status warning_...) move none.
MOVEMENT_EVENTS = frozenset(
    {
        "charge.refunded",
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    }
)


@dataclass(frozen=True)
class Movement:
    """One movement as the processor reports it, in its minor units."""

    kind: str  # MovementKind
    processor_id: str  # re_... or dp_...
    units: int
    currency: str
    intent_id: str
    portal_refund: str = ""  # our ProcessorMovement's id, in an admin's refund's metadata


# --- the webhook: what an event moved, then recording it ------------------------------


def processor_movements(event) -> list[Movement]:
    """What ``event`` moved, one Movement per refund or dispute and kind.
    May ask Stripe (a charge's full list of refunds, a dispute's payment
    intent): call it outside any transaction."""
    data = event.data.object.to_dict()
    if event.type == "charge.refunded":
        return [
            Movement(
                kind=MovementKind.REFUND,
                processor_id=refund["id"],
                units=refund["amount"],
                currency=refund.get("currency") or data["currency"],
                intent_id=data.get("payment_intent") or "",
                portal_refund=str((refund.get("metadata") or {}).get("portal_refund") or ""),
            )
            for refund in _refunds_of(data)
            if refund.get("status") in MOVING
        ]
    status = data.get("status") or ""
    if status.startswith("warning_"):
        return []  # an inquiry: Stripe withdraws nothing
    if event.type == "charge.dispute.closed":
        kinds = {"won": [MovementKind.DISPUTE, MovementKind.DISPUTE_REVERSAL], "lost": [MovementKind.DISPUTE]}
        kinds = kinds.get(status, [])
    elif event.type == "charge.dispute.funds_reinstated":
        kinds = [MovementKind.DISPUTE, MovementKind.DISPUTE_REVERSAL]
    else:  # created, funds_withdrawn: Stripe withdraws the amount when a dispute opens
        kinds = [MovementKind.DISPUTE]
    # The withdrawal is listed with the reinstatement: an event missed (or
    # delivered after the later one) still leaves both in the ledger, once.
    intent_id = data.get("payment_intent") or (_intent_of_charge(data["charge"]) if kinds else "")
    return [
        Movement(
            kind=kind, processor_id=data["id"], units=data["amount"], currency=data["currency"], intent_id=intent_id
        )
        for kind in kinds
    ]


def _refunds_of(charge: dict) -> list[dict]:
    """Every refund of ``charge``: from the event when it lists them all (its
    ``amount_refunded`` is cumulative, so the list must add up to it), else
    from Stripe (API versions since 2022-11-15 leave them out of the event)."""
    listed = charge.get("refunds")
    if isinstance(listed, dict) and not listed.get("has_more"):
        refunds = listed.get("data") or []
        if sum(r.get("amount", 0) for r in refunds if r.get("status") in MOVING) == charge.get("amount_refunded"):
            return refunds
    return [r.to_dict() for r in stripe_client().Refund.list(charge=charge["id"], limit=100).auto_paging_iter()]


def _intent_of_charge(charge_id: str) -> str:
    return stripe_client().Charge.retrieve(charge_id).to_dict().get("payment_intent") or ""


def movements_record(movements: list[Movement], *, event_id: str, actor: Actor) -> str:
    """Record each movement once (inside the webhook's transaction); returns
    what was done, in words."""
    done = [_record(movement, event_id=event_id, actor=actor) for movement in movements]
    return "; ".join(done) if done else "nothing moved"


def _record(movement: Movement, *, event_id: str, actor: Actor) -> str:
    attempt = PaymentAttempt.objects.filter(stripe_payment_intent_id=movement.intent_id).first()
    if not movement.intent_id or attempt is None:
        # Not a payment of this portal (another integration on the account).
        return f"no payment for {movement.kind} {movement.processor_id}"
    currency = movement.currency.upper()
    if currency != attempt.currency:
        raise ValueError(f"{movement.processor_id} is in {currency}, its payment {attempt.pk} in {attempt.currency}")
    amount = from_minor_units(movement.units, currency)
    # The account's lock orders every recorder of this account's movements
    # (two events of one dispute, a webhook and an admin's refund): the
    # second finds the first's row.
    lock_account(attempt.account_id)
    if ProcessorMovement.objects.filter(kind=movement.kind, processor_id=movement.processor_id).exists():
        return f"{movement.kind} {movement.processor_id} already recorded"
    portal_refund = id_or_none(movement.portal_refund)
    if movement.kind == MovementKind.REFUND and portal_refund is not None:
        ours = ProcessorMovement.objects.filter(
            pk=portal_refund, attempt=attempt, kind=MovementKind.REFUND, processor_id=""
        ).first()
        if ours is not None and ours.state in OPEN:
            _refund_succeeded(ours, movement.processor_id, actor=actor)
            return f"refund {movement.processor_id} (made in the portal) recorded"
    row = ProcessorMovement.objects.create(
        account_id=attempt.account_id,
        attempt=attempt,
        kind=movement.kind,
        origin=MovementOrigin.PROCESSOR,
        processor_id=movement.processor_id,
        amount=amount,
        currency=currency,
        state=AttemptState.SUCCEEDED,
        event_id=event_id,
        business_date=business_today(),
        settled_at=timezone.now(),
    )
    _post(row, actor=actor)
    return f"{movement.kind} {movement.processor_id} of {format_money(amount, currency)} recorded"


def _post(movement: ProcessorMovement, *, actor: Actor) -> None:
    """The movement's ledger entry (the caller holds the account's lock)."""
    intent = movement.attempt.stripe_payment_intent_id
    memo = {
        MovementKind.REFUND: f"Refund of card payment {intent}",
        MovementKind.DISPUTE: f"Dispute of card payment {intent}: the amount is withdrawn while it lasts",
        MovementKind.DISPUTE_REVERSAL: f"Dispute of card payment {intent} won: the amount is reinstated",
    }[movement.kind]
    if movement.reason:
        memo = f"{memo} ({movement.reason})"
    entry = ledger_post(
        actor=actor,
        account_id=movement.account_id,
        amount=movement.amount if movement.kind == MovementKind.DISPUTE_REVERSAL else -movement.amount,
        kind=movement.kind,
        memo=memo[:500],
        reference=movement.processor_id,
        business_date=movement.business_date,
    )
    ProcessorMovement.objects.filter(pk=movement.pk).update(entry=entry)


# --- an admin's refund --------------------------------------------------------------


def refundable(attempt: PaymentAttempt) -> Decimal:
    """What is left of a payment to refund: its amount less its refunds
    (made, or being made) and the disputes it lost, plus those reinstated."""
    moved = dict(
        ProcessorMovement.objects.filter(attempt=attempt)
        .filter(
            Q(kind=MovementKind.REFUND, state__in=(*OPEN, AttemptState.SUCCEEDED)) | Q(state=AttemptState.SUCCEEDED)
        )
        .values("kind")
        .annotate(total=Sum("amount"))
        .values_list("kind", "total")
    )
    taken = moved.get(MovementKind.REFUND, ZERO) + moved.get(MovementKind.DISPUTE, ZERO)
    return max(ZERO, attempt.amount - taken + moved.get(MovementKind.DISPUTE_REVERSAL, ZERO))


def payment_refund(*, actor: Actor, attempt_id: int, amount: Decimal | None, reason: str) -> ProcessorMovement:
    """Refund ``amount`` of a card payment that succeeded (None: all that is
    left of it) to the card, with a reason, and post the refund entry.

    Refused (nothing asked of Stripe) beyond what is left of the payment, and
    beyond what the account can give back: the refund is ours, so unlike one
    made at Stripe it may not take the balance below the credit limit (a
    payment spent on renewals is refunded only after an adjustment makes the
    room, a decision the admin takes knowingly). The amount is held on the
    account while Stripe is asked, so nothing spends it meanwhile."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("say why: the refund is audited with its reason", code="reason_required")
    attempt = PaymentAttempt.objects.visible_to(actor).select_related("account__customer").filter(pk=attempt_id).first()
    if attempt is None:
        raise NotFound(f"payment attempt {attempt_id} not found")
    if attempt.state != AttemptState.SUCCEEDED or not attempt.stripe_payment_intent_id:
        raise DomainError(f"attempt {attempt.pk}: only a card payment that succeeded can be refunded", code="not_paid")
    stripe_client()  # refuses before any record is written when cards are not configured
    currency = attempt.currency
    with transaction.atomic():
        account = lock_account(attempt.account_id)
        left = refundable(attempt)
        if amount is None:
            amount = left
        try:
            amount = check_exact(Decimal(amount), currency)
        except ValueError as exc:
            raise DomainError(f"a refund of {exc}", code="invalid_amount") from exc
        if left <= 0:
            raise DomainError(f"attempt {attempt.pk}: nothing is left of this payment to refund", code="beyond_payment")
        if amount <= 0:
            raise DomainError("a refund is a positive amount", code="invalid_amount")
        if amount > left:
            raise DomainError(
                f"attempt {attempt.pk}: only {format_money(left, currency)} of its "
                f"{format_money(attempt.amount, currency)} is left to refund, not {format_money(amount, currency)}",
                code="beyond_payment",
            )
        if amount > account.available:
            raise DomainError(
                f"attempt {attempt.pk}: refunding {format_money(amount, currency)} would take the balance below the "
                f"credit limit: only {format_money(max(ZERO, account.available), currency)} is available (the rest was "
                "spent). Refund less, or post an adjustment first if the customer is to owe it.",
                code="insufficient_funds",
            )
        movement = ProcessorMovement.objects.create(
            account=account,
            attempt=attempt,
            kind=MovementKind.REFUND,
            origin=MovementOrigin.ADMIN,
            amount=amount,
            currency=currency,
            state=AttemptState.PENDING,
            reason=reason,
            requested_by=actor.label,
            business_date=business_today(),
        )
        hold_place(account_id=account.pk, amount=amount)
        audit_record(
            actor=actor,
            action="payment.refund",
            target=attempt,
            before=format_money(left, currency),
            after=format_money(left - amount, currency),
            reason=reason,
        )
    _ask_stripe(movement, attempt, actor=actor)
    movement.refresh_from_db()
    if movement.state == AttemptState.FAILED:
        raise DomainError(f"attempt {attempt.pk}: nothing was refunded: {movement.error}", code="refund_refused")
    if movement.state != AttemptState.SUCCEEDED:
        raise DomainError(
            f"attempt {attempt.pk}: the card processor did not answer; the refund of "
            f"{format_money(amount, currency)} stays held and is settled by reconciliation or its webhook "
            "(never made twice)",
            code="refund_unknown",
        )
    return movement


def _ask_stripe(movement: ProcessorMovement, attempt: PaymentAttempt, *, actor: Actor) -> None:
    """The refund at Stripe, with no transaction open; then settled."""
    stripe_api = stripe_client()
    try:
        refund = stripe_api.Refund.create(
            payment_intent=attempt.stripe_payment_intent_id,
            amount=to_minor_units(movement.amount, movement.currency),
            metadata={"portal_refund": str(movement.pk)},
            idempotency_key=movement.idempotency_key,
        )
    except (*NO_ANSWER, stripe.IdempotencyError) as exc:
        # It may have been made: reconciliation finds it by our id in its metadata.
        _refund_unknown(movement, f"no answer from the card processor: {type(exc).__name__}: {exc}")
        return
    except stripe.StripeError as exc:
        _refund_failed(movement, getattr(exc, "user_message", None) or str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - an answer nobody foresaw: reconciliation takes it from Stripe's list
        log.exception("refund %s: unexpected error; left unknown for reconciliation", movement.pk)
        _refund_unknown(movement, f"unexpected error: {type(exc).__name__}: {exc}")
        return
    if refund.status not in MOVING:
        _refund_failed(movement, f"the refund is {refund.status}")
        return
    with transaction.atomic():
        lock_account(movement.account_id)
        _refund_succeeded(movement, refund.id, actor=actor)


def _refund_succeeded(movement: ProcessorMovement, refund_id: str, *, actor: Actor) -> bool:
    """An admin's refund made at Stripe as ``refund_id``: the hold released
    and the refund entry posted, once (the conditional UPDATE decides between
    the admin's request, its webhook and reconciliation). The caller holds
    the account's lock."""
    if (
        ProcessorMovement.objects.filter(kind=MovementKind.REFUND, processor_id=refund_id)
        .exclude(pk=movement.pk)
        .exists()
    ):
        # Already recorded from an event that did not name our row: posted
        # there; this row only releases what it held.
        if ProcessorMovement.objects.filter(pk=movement.pk, state__in=OPEN).update(
            state=AttemptState.SUCCEEDED, settled_at=timezone.now(), error=f"recorded as {refund_id} by its webhook"
        ):
            hold_release(account_id=movement.account_id, amount=movement.amount)
        return False
    moved = ProcessorMovement.objects.filter(pk=movement.pk, state__in=OPEN).update(
        state=AttemptState.SUCCEEDED, processor_id=refund_id, settled_at=timezone.now(), error=""
    )
    if not moved:
        return False
    hold_release(account_id=movement.account_id, amount=movement.amount)
    movement.refresh_from_db()
    _post(movement, actor=actor)
    return True


@transaction.atomic
def _refund_failed(movement: ProcessorMovement, error: str) -> None:
    lock_account(movement.account_id)
    if ProcessorMovement.objects.filter(pk=movement.pk, state__in=OPEN).update(
        state=AttemptState.FAILED, error=error[:2000], settled_at=timezone.now()
    ):
        hold_release(account_id=movement.account_id, amount=movement.amount)


def _refund_unknown(movement: ProcessorMovement, error: str) -> None:
    ProcessorMovement.objects.filter(pk=movement.pk, state__in=OPEN).update(
        state=AttemptState.UNKNOWN, error=error[:2000]
    )


def refunds_reconcile(*, actor: Actor | None = None) -> dict[str, int]:
    """Settle admins' refunds whose answer never came (and pending ones left
    by a crash, once past the reconcile delay) from Stripe's list of the
    payment's refunds, matched by our row's id in their metadata: made ->
    posted; none long after the request -> failed, the hold released. Never
    asks for a refund again. Each on its own (core.isolation)."""
    actor = actor or Actor.system("reconciliation")
    now = timezone.now()
    stripe_api = stripe_client()
    counts = {"settled": 0, "still_unknown": 0}

    def reconcile(movement: ProcessorMovement) -> None:
        found = [
            refund
            for refund in stripe_api.Refund.list(
                payment_intent=movement.attempt.stripe_payment_intent_id, limit=100
            ).auto_paging_iter()
            if (refund.to_dict().get("metadata") or {}).get("portal_refund") == str(movement.pk)
        ]
        moving = [refund for refund in found if refund.status in MOVING]
        if moving:
            with transaction.atomic():
                lock_account(movement.account_id)
                _refund_succeeded(movement, moving[0].id, actor=actor)
        elif found:
            _refund_failed(movement, f"the refund is {found[0].status}")
        elif not in_flight(movement.created_at, now):
            _refund_failed(movement, "the refund never reached the card processor; nothing was refunded")
        else:
            counts["still_unknown"] += 1
            return
        counts["settled"] += 1

    open_refunds = ProcessorMovement.objects.filter(
        Q(state=AttemptState.UNKNOWN) | Q(state=AttemptState.PENDING, created_at__lte=now - reconcile_delay())
    ).select_related("attempt")
    failed = each(
        open_refunds.order_by("pk"),
        reconcile,
        stage=Stage.RECONCILIATION,
        subject=lambda m: Subject(
            key=f"refund:{m.pk}",
            label=f"refund {m.pk} of {format_money(m.amount, m.currency)} on card attempt {m.attempt_id}",
            customer_id=m.account_id,
        ),
        atomic=False,  # network calls: no transaction may be open around them
    )
    counts["still_unknown"] += len(failed.failed)
    return counts


def refunds_reconciliation_pass() -> dict[str, int] | None:
    """As the scheduled reconciliation runs it: nothing without Stripe."""
    if not stripe_configured() or not ProcessorMovement.objects.filter(state__in=OPEN).exists():
        return None
    return refunds_reconcile()


# --- the operators' notice ----------------------------------------------------------


def movements_alert() -> int:
    """Mail the operators (settings.ADMINS) every refund and dispute recorded
    and not yet told, in one message per pass; returns how many it told."""
    return operators_mail_once(
        ProcessorMovement.objects.filter(state=AttemptState.SUCCEEDED),
        subject=_alert_subject,
        body=_alert_body,
        related=("account__customer", "attempt"),
    )


def _alert_subject(movements: list[ProcessorMovement]) -> str:
    if len(movements) == 1:
        m = movements[0]
        return (
            f"{m.get_kind_display()}: {format_money(m.amount, m.currency)} on {m.account.customer.ref}'s card payment"
        )
    return f"{len(movements)} card refunds or disputes reached the ledger"


def _alert_body(movements: list[ProcessorMovement]) -> str:
    portal = getattr(settings, "PORTAL_URL", "").rstrip("/")
    lines = [
        "The card processor moved money on these card payments; each is posted to the customer's ledger.",
        "An account left below its credit limit owes the difference and renews nothing until it tops up.",
        f"Details: {portal}/admin/payments/processormovement/",
        "",
    ]
    for m in movements:
        customer = m.account.customer
        origin = f"by {m.requested_by} in the portal" if m.origin == MovementOrigin.ADMIN else "at the processor"
        lines.append(
            f"- {m.get_kind_display()} {m.processor_id or ''} of {format_money(m.amount, m.currency)} ({origin}): "
            f"{customer.ref} ({customer.name}), card payment {m.attempt.stripe_payment_intent_id}"
        )
        if m.reason:
            lines.append(f"  reason: {m.reason}")
        if m.account.owes:
            lines.append(f"  the account now owes {format_money(m.account.owes, m.currency)}")
    return "\n".join(lines) + "\n"
