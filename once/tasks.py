"""Celery tasks: take ids or dates, call a service."""

from celery import shared_task


@shared_task(acks_late=True)
def idempotency_keys_purge() -> int:
    """Forget the keys older than 24 hours (beat, every hour): how many."""
    from once.idempotency import idempotency_keys_purge as purge

    return purge()
