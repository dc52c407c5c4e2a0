"""Celery tasks: take ids or dates, call a service. Without a broker they run
in-process (CELERY_TASK_ALWAYS_EAGER)."""

from celery import shared_task


@shared_task(acks_late=True)
def run_provisioning_hooks() -> dict:
    from renewals.lifecycle import provisioning_run

    return provisioning_run()


@shared_task(acks_late=True)
def sweep_batch(batch_id: int) -> None:
    """One batch of accounts of a run. Safe to deliver twice: the database
    decides (account locks and one attempt per account and date)."""
    from renewals.sweep.run import sweep_batch_run

    sweep_batch_run(batch_id)


@shared_task(acks_late=True)
def nightly_run() -> list:
    """Beat's 02:00 task: every business date since the last completed run."""
    from api.idempotency import idempotency_keys_purge
    from payments.gateway import stripe_configured
    from payments.services import payment_attempts_reconcile
    from renewals.lifecycle import provisioning_run
    from renewals.sweep.run import nightly

    if stripe_configured():
        payment_attempts_reconcile()  # settle card charges whose outcome was unknown
    reports = nightly()
    provisioning_run()  # retry hooks that failed earlier
    idempotency_keys_purge()  # the API's Idempotency-Keys older than 24 hours
    deliver_notices.delay()
    return [] if reports is None else [r.date for r in reports]


@shared_task(acks_late=True)
def deliver_notices() -> dict:
    """Send the outbox (beat runs it every minute, the nightly work at its end)."""
    from notifications.delivery import deliver_pending

    return deliver_pending()
