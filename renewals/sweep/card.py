"""The sweep's card step (ARCHITECTURE.md "The card path"): the accounts the
balance step left because their batch needs the card, one at a time, no lock
held across the network.

1. Transaction: lock the account and plan it again (the balance step's
   transaction has ended: a manual payment may have come between), hold
   the balance part, record the batch as pending and the charge as an
   off-session payment attempt whose renewal payment claims the due orders
   (with the periods priced). Commit.
2. Charge (payments.charges.charge): the PaymentIntent is created and
   confirmed in one request, with the attempt id in its metadata.
3. Settled by payments with the handler renewals registered
   (renewals.settlement), now or, for an answer that never came, at
   reconciliation.
"""

import datetime

from django.db import transaction

from balances.services import hold_place
from payments.charges import charge
from payments.models import AttemptPurpose, PaymentAttempt
from payments.services import default_card
from renewals.claims import claim_line, claim_orders
from renewals.facts import Catalog
from renewals.models import BatchOutcome
from renewals.rules import Reason
from renewals.sweep.batches import plan_accounts, record_plans
from tenants.scope import Actor


def card_batch(customer_id: int, *, on: datetime.date, catalog: Catalog, actor: Actor, run=None) -> None:
    """Steps 1 and 2 for one account (step 3 follows from the charge)."""
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
            off_session=True,  # the customer is asleep: nobody can authenticate
        )
        claim_orders(
            attempt,
            [
                claim_line(p.order.id, p.order.ref, p.order.status, catalog.describe(p.order), p.period)
                for p in plan.batch
            ],
            hold=hold,
            batch_id=batch_id,
        )
        if hold:
            hold_place(account_id=customer_id, amount=hold)
    charge(attempt, actor=actor)
