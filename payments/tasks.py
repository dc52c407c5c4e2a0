"""Celery tasks of card payments: take ids, call a service."""

from celery import shared_task


@shared_task(acks_late=True)
def reconcile_payments() -> dict | None:
    """Beat's every-5-minutes task (also the nightly task's first step):
    settle the card attempts whose outcome is open. Nothing without Stripe
    configured; never raises for Stripe being down (a fault is recorded)."""
    from payments.charges import payment_reconciliation_pass

    return payment_reconciliation_pass()
