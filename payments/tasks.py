"""Celery tasks of card payments: take ids, call a service."""

from celery import shared_task


@shared_task(acks_late=True)
def reconcile_payments() -> dict | None:
    """Beat's every-5-minutes task (also the nightly task's first step):
    settle the card attempts whose outcome is open. Nothing without Stripe
    configured; never raises for Stripe being down (a fault is recorded)."""
    from payments.charges import payment_reconciliation_pass
    from payments.refunds import refunds_reconciliation_pass

    counts = payment_reconciliation_pass()
    refunds = refunds_reconciliation_pass()  # admins' refunds whose answer never came
    if refunds is not None:
        counts = {**(counts or {}), "refunds": refunds}
    return counts


@shared_task(acks_late=True)
def fill_card_details(card_ids: list[int] | None = None) -> int:
    """Brand, last 4 and expiry from Stripe for saved cards that lack them
    (queued by import_portal for the cards it just created, after commit)."""
    from payments.services import cards_details_fill

    return cards_details_fill(card_ids=card_ids)
