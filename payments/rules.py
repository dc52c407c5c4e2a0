"""When a card payment attempt is reconciled, and when it waits for an
operator (SPEC "Faults and bad data"): plain functions over plain values."""

import datetime

from django.conf import settings

# An attempt's charge is over within a minute (connect 10 s + read 30 s per
# request); one still open after this was interrupted (a crash, a lost
# reply) and is reconciliation's. Stripe's search index also lags writes by
# up to a minute, so "no intent found" is trusted only after this delay.
RECONCILE_DELAY_SECONDS = 5 * 60
# Still not settled after this, the attempt is flagged for an operator.
DECISION_AFTER_DAYS = 3


def reconcile_delay() -> datetime.timedelta:
    return datetime.timedelta(seconds=getattr(settings, "PAYMENT_RECONCILE_DELAY_SECONDS", RECONCILE_DELAY_SECONDS))


def decision_after() -> datetime.timedelta:
    return datetime.timedelta(days=getattr(settings, "PAYMENT_DECISION_AFTER_DAYS", DECISION_AFTER_DAYS))


def in_flight(created_at: datetime.datetime, now: datetime.datetime) -> bool:
    """An open attempt younger than the delay may still be charging; an older
    one was interrupted, and what Stripe holds for it (or not) is final."""
    return created_at > now - reconcile_delay()


def needs_decision(created_at: datetime.datetime, now: datetime.datetime) -> bool:
    """An open attempt this old is flagged for an operator's decision."""
    return created_at <= now - decision_after()
