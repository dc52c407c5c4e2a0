"""The planning function of the nightly sweep: for one account on one date,
which due orders form its batch, what each costs, which are skipped and why,
and how the batch will end. It reads only the values it is given.

The real run calls it after locking the account; the dry-run and the
reseller's preview call it on the same data without locking. Being the same
code, the prediction cannot drift from the real thing.
"""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from balances.rules import available_funds
from core.money import ZERO
from orders.models import PaymentSource
from payments.gateway import minimum_charge
from renewals.facts import AccountRow, Catalog, OrderRow, facts_for, facts_key
from renewals.models import BatchOutcome
from renewals.rules import (
    Period,
    Reason,
    batch_failure,
    card_charge,
    eligibility,
    is_attempt_night,
    next_attempt_night,
)


@dataclass(slots=True)
class PlannedOrder:
    order: OrderRow
    reason: Reason | None  # None: in the batch
    period: Period | None = None

    @property
    def amount(self) -> Decimal | None:
        return self.period.amount if self.period else None


@dataclass
class AccountPlan:
    account: AccountRow
    batch: list[PlannedOrder] = field(default_factory=list)
    skipped: list[PlannedOrder] = field(default_factory=list)
    outcome: BatchOutcome | str = ""  # renewed, failed or pending ("" when there is no batch)
    reason: Reason | None = None
    balance_part: Decimal = ZERO
    card_part: Decimal = ZERO
    # What the card path would charge: the card part and the balance's
    # shortfall, at least the processor's minimum (the extra stays on the balance).
    card_amount: Decimal = ZERO
    # Dunning: not tried tonight (no order of its batch is on a night its
    # retry policy tries); the night it is tried next, or None when none of
    # its window is left. Nothing of a waiting account is recorded tonight.
    waiting: bool = False
    next_attempt: datetime.date | None = None

    @property
    def total(self) -> Decimal:
        return self.balance_part + self.card_part

    @property
    def from_balance(self) -> Decimal:
        """What the balance pays of the total (held while the card is charged);
        nothing when the card charge, raised to the minimum, covers it all."""
        return max(ZERO, self.total - self.card_amount)

    @property
    def to_balance(self) -> Decimal:
        """What a card charge raised to the processor's minimum leaves on the
        balance beyond the renewal."""
        return max(ZERO, self.card_amount - self.total)

    @property
    def shortfall(self) -> Decimal:
        """What a failing batch lacks: its total less what the account can
        spend (the balance not held by card payments, plus the credit limit)."""
        if self.outcome != BatchOutcome.FAILED:
            return ZERO
        account = self.account
        return max(ZERO, self.total - available_funds(account.balance, account.held, account.credit_limit))

    @property
    def needs_card(self) -> bool:
        return self.card_amount > 0

    @property
    def due(self) -> list[PlannedOrder]:
        return self.batch + self.skipped


def plan_account(
    account: AccountRow,
    orders: list[OrderRow],
    catalog: Catalog,
    on: datetime.date,
    claimed: frozenset | set = frozenset(),
    verdicts: dict | None = None,
) -> AccountPlan:
    """Plan one account's night. ``orders`` may hold orders that are not due:
    only the due ones are planned. ``claimed`` orders belong to a card payment
    still in flight: they wait for it (``payment_unknown``). ``verdicts``: the
    rules' answers by facts_key, shared by the accounts of a batch (same
    catalog, same date)."""
    plan = AccountPlan(account=account)
    verdicts = {} if verdicts is None else verdicts
    policy = catalog.policy_for(account)
    nights: list[datetime.date | None] = []  # the batch's orders' next attempt nights
    for order in orders:
        key = facts_key(order, account)
        verdict = verdicts.get(key)
        if verdict is None:
            verdict = verdicts[key] = eligibility(facts_for(order, account, catalog), on)
        # An order held back by an internal error is retried past its
        # paid-thru date too, until an attempt ends otherwise.
        if not verdict.due and order.id not in catalog.held:
            continue
        if verdict.reason is not None:
            plan.skipped.append(PlannedOrder(order, verdict.reason))
            continue
        if order.id in claimed:
            plan.skipped.append(PlannedOrder(order, Reason.PAYMENT_UNKNOWN))
            continue
        period = catalog.next_period(order)
        plan.batch.append(PlannedOrder(order, None, period))
        if not policy.every_night:
            nights.append(
                on
                if order.id in catalog.held
                or is_attempt_night(policy, expires_on=order.expires_on, window_opens=verdict.window_opens, on=on)
                else next_attempt_night(policy, expires_on=order.expires_on, window_opens=verdict.window_opens, on=on)
            )
        if order.payment_source == PaymentSource.CARD:
            plan.card_part += period.amount
        else:
            plan.balance_part += period.amount
    if not plan.batch:
        return plan
    # The account is tried tonight when one order of its batch is on an
    # attempt night; then the batch holds all its due orders (all or nothing).
    plan.next_attempt = min((night for night in nights if night), default=None) if nights else on
    if plan.next_attempt != on:
        plan.waiting = True
        return plan
    plan.reason = batch_failure(
        balance_part=plan.balance_part,
        card_part=plan.card_part,
        balance=account.balance,
        held=account.held,
        credit_limit=account.credit_limit,
        card_usable=account.card_usable,
    )
    if plan.reason is not None:
        plan.outcome = BatchOutcome.FAILED
        return plan
    plan.card_amount = (
        card_charge(
            balance_part=plan.balance_part,
            card_part=plan.card_part,
            balance=account.spendable,
            minimum=minimum_charge(account.currency),
        )
        if account.card_usable
        else ZERO
    )
    # Predicted from the card on file when a card charge is needed: the card
    # path makes it (one account at a time, no lock across the network).
    plan.outcome = BatchOutcome.RENEWED
    return plan
