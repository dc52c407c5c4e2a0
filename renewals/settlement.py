"""Settling a card payment for a renewal (ARCHITECTURE.md "The card path",
step 3), for the sweep's card batches and manual renewals paid by card alike:
payments calls ``settle_renewal`` (registered for the ``renewal`` purpose in
renewals.apps) inside the transaction that moved the attempt to its final
state.

Succeeded: card top-up credit, the claimed orders renewed, invoiced and
extended (a sweep batch renewed), the hold released. Failed or refused: the
hold released, a sweep batch failed with ``card_declined`` and its notice
(``internal_error`` and no notice when the processor refused the portal
itself). Paid but not renewable: the amount stays on the balance, the
customer and the operators are told.
"""

import logging

from django.db import transaction

from balances.locks import lock_account
from balances.models import Account, EntryKind
from balances.services import hold_release, ledger_post
from core.isolation import Subject, fault_record
from core.models import Stage
from core.money import ZERO
from invoices.models import RenewalSource
from notifications.content import money, order_row
from notifications.services import NoticeSpec, notices_create
from orders.models import Order
from payments.charges import card_retry_block, card_retry_unblock
from payments.models import AttemptState, PaymentAttempt
from renewals.claims import claim_csr, claim_period
from renewals.csr import csrs_store
from renewals.facts import account_retry_policy
from renewals.models import BatchAttempt, BatchOutcome, OrderOutcome, RenewalPayment
from renewals.notices import FailedOrder, Failure, failure_notices
from renewals.rules import REPEATED_DECLINE_CODE, Reason, is_hard_decline
from renewals.writer import Charge, Line, RenewalConflict, finish, write_renewals
from tenants.scope import Actor

log = logging.getLogger("renewals.settlement")


def settle_renewal(
    attempt: PaymentAttempt, state: str, *, actor: Actor, error: str = "", internal: bool = False
) -> None:
    """The settle handler of ``renewal`` payments (payments.settlement), inside
    the transaction that moved the attempt to ``state``. ``internal``: the
    charge failed for the portal's fault (the processor refused our key or
    account), not the card's: the batch fails with ``internal_error`` (no
    customer notice, orders held, retried tomorrow)."""
    account = lock_account(attempt.account_id)
    # Its batch: a sweep's, or None for a manual renewal paid by card.
    payment = RenewalPayment.objects.select_related("batch").get(attempt_id=attempt.pk)
    if payment.hold:
        hold_release(account_id=account.pk, amount=payment.hold)
    batch = payment.batch
    claim = payment.claim
    order_ids = [line["order_id"] for line in claim]
    if state != AttemptState.SUCCEEDED:
        if batch is not None:
            reason = Reason.INTERNAL_ERROR if internal else Reason.CARD_DECLINED
            BatchAttempt.objects.filter(pk=batch.pk).update(outcome=BatchOutcome.FAILED, reason=reason)
            OrderOutcome.objects.filter(attempt=batch, order_id__in=order_ids).update(
                outcome=BatchOutcome.FAILED, reason=reason
            )
            if not internal:
                _declined_notice(attempt, claim, account, error)
                _hard_decline(attempt, claim, account)
        return
    ledger_post(
        actor=actor,
        account_id=account.pk,
        amount=attempt.amount,
        kind=EntryKind.CARD_TOP_UP,
        memo="Card charge for renewal" + (f" batch {batch.pk}" if batch else ""),
        reference=attempt.stripe_payment_intent_id,
        business_date=attempt.business_date,
    )
    account.refresh_from_db()
    try:
        with transaction.atomic():
            _renew_claimed(attempt, claim, account, batch, actor)
    except Exception as exc:  # noqa: BLE001 - paid: whatever failed, the money must not be lost with it
        # Paid, but the renewal could not be written (the orders moved
        # meanwhile, which claims should prevent, or bad data). The money
        # stays on the balance as the card top-up just posted, and the
        # customer is told so; the batch fails with internal_error (its
        # orders held from suspension, retried from the balance the next
        # night) and the operators are told.
        log.exception("card attempt %s: paid but not renewed; the charge stays on the balance", attempt.pk)
        _credited_notice(attempt, claim, account, renewed_meanwhile=isinstance(exc, RenewalConflict))
        fault_record(
            stage=Stage.CARD,
            subject=Subject(
                key=f"account:{account.pk}",
                label=f"card attempt {attempt.pk}: paid, not renewed; the amount is on the balance",
                customer_id=account.pk,
                orders=tuple(line["order_ref"] for line in claim),
            ),
            on=attempt.business_date,
            error=exc,
        )
        if batch is not None:
            BatchAttempt.objects.filter(pk=batch.pk).update(outcome=BatchOutcome.FAILED, reason=Reason.INTERNAL_ERROR)
            OrderOutcome.objects.filter(attempt=batch, order_id__in=order_ids).update(
                outcome=BatchOutcome.FAILED, reason=Reason.INTERNAL_ERROR
            )


def _renew_claimed(
    attempt: PaymentAttempt, claim: list[dict], account: Account, batch: BatchAttempt | None, actor: Actor
) -> None:
    order_ids = [line["order_id"] for line in claim]
    # Today's status: the lifecycle may have suspended an order meanwhile
    # (a renewal then restores it); it never terminates a claimed one.
    statuses = dict(Order.objects.filter(pk__in=order_ids).values_list("pk", "status"))
    charge = Charge.of_account(
        account,
        [
            Line(
                line["order_id"],
                line["order_ref"],
                line["description"],
                statuses[line["order_id"]],
                claim_period(line, attempt.currency),
            )
            for line in claim
        ],
    )
    charge.card, charge.card_amount = str(attempt.card or "card"), attempt.amount
    written = write_renewals(
        [charge],
        on=attempt.business_date,
        source=RenewalSource.AUTOMATIC if batch else RenewalSource.MANUAL,
        actor=actor,
        payment_memo="Renewal (card)" if batch else "Manual renewal (card)",
    )
    # The CSRs a manual renewal was claimed with, kept with it now that it is paid.
    csrs_store(
        [
            (line["order_id"], claim_period(line, attempt.currency).start, claim_csr(line))
            for line in claim
            if line.get("csr")
        ],
        on=attempt.business_date,
    )
    invoice_id = finish(written)[account.pk]
    if batch is None:
        # Paid by its holder in the browser: a hard decline's block is over.
        card_retry_unblock(card_id=attempt.card_id)
    if batch is not None:
        # A renewed order's record is its invoice line; the pending rows go.
        OrderOutcome.objects.filter(attempt=batch, order_id__in=order_ids).delete()
        BatchAttempt.objects.filter(pk=batch.pk).update(outcome=BatchOutcome.RENEWED, reason="", invoice_id=invoice_id)


def _credited_notice(attempt: PaymentAttempt, claim: list[dict], account: Account, *, renewed_meanwhile: bool) -> None:
    """``payment_credited``: the card was charged, the renewal not written,
    the amount is on the balance (one per attempt)."""
    customer = account.customer
    notices_create(
        [
            NoticeSpec(
                kind="payment_credited",
                customer_id=account.pk,
                reseller_id=customer.reseller_id,
                recipient=customer.email,
                subject_key=f"attempt:{attempt.pk}",
                cycle=attempt.business_date.isoformat(),
                business_date=attempt.business_date,
                data={
                    "orders": [
                        order_row(line["order_ref"], line["description"], claim_period(line).start) for line in claim
                    ],
                    "amount": money(attempt.amount, attempt.currency),
                    "card": str(attempt.card or "card"),
                    "renewed_meanwhile": renewed_meanwhile,
                },
                order_refs=[line["order_ref"] for line in claim],
            )
        ]
    )


def _declined_notice(attempt: PaymentAttempt, claim: list[dict], account: Account, error: str) -> None:
    customer = account.customer
    orders = [
        FailedOrder(
            line["order_id"],
            line["order_ref"],
            line["description"],
            claim_period(line, attempt.currency).start,
            claim_period(line, attempt.currency),
        )
        for line in claim
    ]
    failure_notices(
        [
            Failure(
                customer_id=account.pk,
                reseller_id=customer.reseller_id,
                email=customer.email,
                currency=attempt.currency,
                orders=orders,
                total=sum((o.period.amount for o in orders), ZERO),
                reason=Reason.CARD_DECLINED,
                detail=f"We could not charge your card {attempt.card or ''}: {error}" if error else "",
                last_chance_day=account_retry_policy(account.pk).last_chance_day,
            )
        ],
        attempt.business_date,
    )


def _hard_decline(attempt: PaymentAttempt, claim: list[dict], account: Account) -> None:
    """A sweep's card batch declined for good (renewals.rules.is_hard_decline:
    a lost, stolen or expired card, or do_not_honor a second time for the
    cycle): the card is not charged again by the nightly run up to the
    cycle's last paid-thru date (the balance is still tried each night), and
    the customer is told once per card and cycle to update it."""
    code = attempt.decline_code
    if not code or attempt.card_id is None or not claim:
        return
    cycles = {(line["order_id"], claim_period(line).start) for line in claim}
    earlier = []
    if code == REPEATED_DECLINE_CODE:
        payments = RenewalPayment.objects.filter(
            attempt__card_id=attempt.card_id,
            attempt__state=AttemptState.FAILED,
            attempt__decline_code=REPEATED_DECLINE_CODE,
        ).exclude(attempt_id=attempt.pk)
        earlier = [
            REPEATED_DECLINE_CODE
            for other in payments.values_list("claim", flat=True)
            if cycles & {(line["order_id"], claim_period(line).start) for line in other}
        ]
    if not is_hard_decline(code, earlier):
        return
    until = max(start for _, start in cycles)
    card_retry_block(card_id=attempt.card_id, until=until, code=code)
    customer = account.customer
    orders = [order_row(line["order_ref"], line["description"], claim_period(line).start) for line in claim]
    notices_create(
        [
            NoticeSpec(
                kind="card_update_needed",
                customer_id=account.pk,
                reseller_id=customer.reseller_id,
                recipient=customer.email,
                # Once per card and cycle, however often it is declined again.
                subject_key=f"card:{attempt.card_id}",
                cycle=until.isoformat(),
                business_date=attempt.business_date,
                data={
                    "orders": orders,
                    "card": str(attempt.card or "card"),
                    "code": code,
                    "why": HARD_DECLINE_WORDS.get(code, code.replace("_", " ")),
                    "retry_until": until.isoformat(),
                },
                order_refs=[line["order_ref"] for line in claim],
            )
        ]
    )


# What the customer reads of a hard decline's code.
HARD_DECLINE_WORDS = {
    "expired_card": "the card has expired",
    "lost_card": "the card was reported lost",
    "stolen_card": "the card was reported stolen",
    "do_not_honor": "the bank refused it twice",
}
