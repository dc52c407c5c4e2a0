"""Celery tasks of the webhooks (without a broker they run in-process)."""

from celery import shared_task


@shared_task(acks_late=True)
def deliver_webhooks() -> dict:
    """Beat's every-minute pass, and the one asked for after an event's
    transaction commits: the due deliveries, then the resellers of endpoints
    just disabled are told."""
    from webhooks.delivery import deliver_due

    return deliver_due()
