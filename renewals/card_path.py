"""The card path of the nightly sweep (ARCHITECTURE.md "The card path"): one
account's batch at a time, no lock held across the network.

1. Transaction: lock the account, plan it again, hold the balance part,
   record the batch as pending and the charge as a payment attempt that
   claims the due orders (with the periods priced). Commit.
2. Charge off-session (payments.charges.charge): the PaymentIntent is
   created and confirmed in one request, with the attempt id in its metadata.
3. Transaction (payments.charges._settle -> ``settle_renewal``): succeeded:
   card top-up credit, the batch debited, invoiced and extended, the hold
   released; failed or refused: the hold released, the batch failed with
   ``card_declined`` (``internal_error`` when the processor refused the
   portal itself); no answer: everything stays as it is (pending,
   ``payment_unknown``) until reconciliation settles it from the intent,
   found by its id or by the attempt id.
"""

import datetime
import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import F

from balances.models import Account, EntryKind
from balances.services import ledger_post
from core.isolation import Subject, fault_record
from core.locks import lock_account
from core.models import Stage
from core.money import ZERO
from invoices.models import RenewalSource
from notifications.content import money, order_row
from notifications.services import NoticeSpec, notices_create
from orders.models import Order
from payments.charges import charge
from payments.models import AttemptPurpose, AttemptState, PaymentAttempt
from payments.services import default_card
from renewals.facts import Catalog
from renewals.models import BatchAttempt, BatchOutcome, OrderOutcome
from renewals.notices import FailedOrder, Failure, failure_notices
from renewals.rules import Period, Reason
from renewals.writer import Charge, Line, RenewalConflict, finish, write_renewals
from tenants.scope import Actor

OPEN = (AttemptState.PENDING, AttemptState.UNKNOWN)
log = logging.getLogger("renewals.card_path")


def claimed_orders(customer_ids) -> set[int]:
    """Orders claimed by a card payment still in flight: no one else may renew
    them until it is settled."""
    return _claimed(PaymentAttempt.objects.filter(account_id__in=list(customer_ids)))


def claimed_orders_all() -> set[int]:
    return _claimed(PaymentAttempt.objects.all())


def _claimed(attempts) -> set[int]:
    claims = attempts.filter(purpose=AttemptPurpose.RENEWAL, state__in=OPEN).values_list("claim", flat=True)
    return {line["order_id"] for claim in claims for line in claim}


def card_batch(customer_id: int, *, on: datetime.date, catalog: Catalog, actor: Actor, run=None) -> None:
    """Steps 1 and 2 for one account (step 3 follows from the charge)."""
    from renewals.sweep.execute import plan_accounts, record_plans

    with transaction.atomic():
        plans = plan_accounts([customer_id], on, catalog, lock=True)
        if not plans or not plans[0].needs_card or plans[0].outcome != BatchOutcome.RENEWED:
            return  # attempted meanwhile, or no longer a card batch: the balance path has it
        plan = plans[0]
        card = default_card(customer_id)
        if card is None:
            return  # the card was removed meanwhile: the account is tried again tomorrow
        plan.outcome, plan.reason = BatchOutcome.PENDING, Reason.PAYMENT_UNKNOWN
        batch_id = record_plans([plan], {}, on, run)[customer_id]
        hold = plan.from_balance
        attempt = PaymentAttempt.objects.create(
            account_id=customer_id,
            card=card,
            purpose=AttemptPurpose.RENEWAL,
            amount=plan.card_amount,
            currency=plan.account.currency,
            # One charge per account and business date, whoever tries.
            idempotency_key=f"renewal-{customer_id}-{on.isoformat()}",
            business_date=on,
            hold=hold,
            batch_id=batch_id,
            claim=[
                claim_line(
                    p.order.id,
                    p.order.ref,
                    p.order.status,
                    catalog.describe(p.order),
                    p.period,
                )
                for p in plan.batch
            ],
        )
        if hold:
            Account.objects.filter(pk=customer_id).update(held=F("held") + hold)
    charge(attempt, actor=actor)


def claim_line(order_id: int, order_ref: str, status: str, description: str, period: Period) -> dict:
    """One claimed order with the period priced, as the attempt keeps it."""
    return {
        "order_id": order_id,
        "order_ref": order_ref,
        "status": status,
        "description": description,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "months": period.months,
        "base": str(period.base_amount),
        "extra_days": period.extra_days,
        "extra": str(period.extra_amount),
        "anchor": period.anchor_day,
        "currency": period.currency,
    }


def _period(line: dict, currency: str | None = None) -> Period:
    """A claimed order's period again, priced in the attempt's ``currency``
    (claims written before lines carried it need it passed)."""
    return Period(
        start=datetime.date.fromisoformat(line["start"]),
        end=datetime.date.fromisoformat(line["end"]),
        months=line["months"],
        base_amount=Decimal(line["base"]),
        extra_days=line["extra_days"],
        extra_amount=Decimal(line["extra"]),
        anchor_day=line["anchor"],
        currency=currency or line["currency"],
    )


def settle_renewal(
    attempt: PaymentAttempt, state: str, *, actor: Actor, error: str = "", internal: bool = False
) -> None:
    """Step 3, inside the transaction that moved the attempt to ``state``.
    ``internal``: the charge failed for the portal's fault (the processor
    refused our key or account), not the card's: the batch fails with
    ``internal_error`` (no customer notice, orders held, retried tomorrow)."""
    account = lock_account(attempt.account_id)
    if attempt.hold:
        Account.objects.filter(pk=account.pk).update(held=F("held") - attempt.hold)
    # A sweep batch, or None for a manual renewal paid by card.
    batch = BatchAttempt.objects.filter(pk=attempt.batch_id).first()
    order_ids = [line["order_id"] for line in attempt.claim]
    if state != AttemptState.SUCCEEDED:
        if batch is not None:
            reason = Reason.INTERNAL_ERROR if internal else Reason.CARD_DECLINED
            BatchAttempt.objects.filter(pk=batch.pk).update(outcome=BatchOutcome.FAILED, reason=reason)
            OrderOutcome.objects.filter(attempt=batch, order_id__in=order_ids).update(
                outcome=BatchOutcome.FAILED, reason=reason
            )
            if not internal:
                _declined_notice(attempt, account, error)
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
            _renew_claimed(attempt, account, batch, actor)
    except Exception as exc:  # noqa: BLE001 - paid: whatever failed, the money must not be lost with it
        # Paid, but the renewal could not be written (the orders moved
        # meanwhile, which claims should prevent, or bad data). The money
        # stays on the balance as the card top-up just posted, and the
        # customer is told so; the batch fails with internal_error (its
        # orders held from suspension, retried from the balance the next
        # night) and the operators are told.
        log.exception("card attempt %s: paid but not renewed; the charge stays on the balance", attempt.pk)
        _credited_notice(attempt, account, renewed_meanwhile=isinstance(exc, RenewalConflict))
        fault_record(
            stage=Stage.CARD,
            subject=Subject(
                key=f"account:{account.pk}",
                label=f"card attempt {attempt.pk}: paid, not renewed; the amount is on the balance",
                customer_id=account.pk,
                orders=tuple(line["order_ref"] for line in attempt.claim),
            ),
            on=attempt.business_date,
            error=exc,
        )
        if batch is not None:
            BatchAttempt.objects.filter(pk=batch.pk).update(outcome=BatchOutcome.FAILED, reason=Reason.INTERNAL_ERROR)
            OrderOutcome.objects.filter(attempt=batch, order_id__in=order_ids).update(
                outcome=BatchOutcome.FAILED, reason=Reason.INTERNAL_ERROR
            )


def _renew_claimed(attempt: PaymentAttempt, account: Account, batch: BatchAttempt | None, actor: Actor) -> None:
    order_ids = [line["order_id"] for line in attempt.claim]
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
                _period(line, attempt.currency),
            )
            for line in attempt.claim
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
    invoice_id = finish(written)[account.pk]
    if batch is not None:
        # A renewed order's record is its invoice line; the pending rows go.
        OrderOutcome.objects.filter(attempt=batch, order_id__in=order_ids).delete()
        BatchAttempt.objects.filter(pk=batch.pk).update(outcome=BatchOutcome.RENEWED, reason="", invoice_id=invoice_id)


def _credited_notice(attempt: PaymentAttempt, account: Account, *, renewed_meanwhile: bool) -> None:
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
                        order_row(line["order_ref"], line["description"], _period(line).start) for line in attempt.claim
                    ],
                    "amount": money(attempt.amount, attempt.currency),
                    "card": str(attempt.card or "card"),
                    "renewed_meanwhile": renewed_meanwhile,
                },
                order_refs=[line["order_ref"] for line in attempt.claim],
            )
        ]
    )


def _declined_notice(attempt: PaymentAttempt, account: Account, error: str) -> None:
    customer = account.customer
    orders = [
        FailedOrder(
            line["order_id"],
            line["order_ref"],
            line["description"],
            _period(line, attempt.currency).start,
            _period(line, attempt.currency),
        )
        for line in attempt.claim
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
            )
        ],
        attempt.business_date,
    )
