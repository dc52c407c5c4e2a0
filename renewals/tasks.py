"""Celery tasks: take ids or dates, call a service. Without a broker they run
in-process (CELERY_TASK_ALWAYS_EAGER)."""

from celery import shared_task

from core.isolation import faults_alert
from core.queue import enqueue

# The nightly task's pass over the provisioning hooks stops after this long.
HOOK_PASS_SECONDS = 600


@shared_task(acks_late=True)
def run_provisioning_hooks() -> dict:
    """The hooks of events just committed, and of any still waiting because
    the broker was down when they were (beat runs it every 5 minutes);
    failed hooks are retried by the nightly task."""
    from renewals.lifecycle import provisioning_run

    return provisioning_run(retry_failed=False)


@shared_task(acks_late=True)
def sweep_batch(batch_id: int) -> None:
    """One batch of accounts of a run. Safe to deliver twice: the database
    decides (account locks and one attempt per account and date)."""
    from renewals.sweep.run import sweep_batch_run

    sweep_batch_run(batch_id)


@shared_task(acks_late=True)
def nightly_run() -> list:
    """Beat's 02:00 task: every business date since the last completed run."""
    from payments.charges import payment_reconciliation_pass
    from renewals.lifecycle import provisioning_run
    from renewals.sweep.run import nightly

    # Settle card charges whose outcome is open, so their orders are renewed
    # or released before the sweep. Isolated: its failure (Stripe down) is a
    # recorded fault and never stops the sweep.
    payment_reconciliation_pass()
    reports = nightly()
    enqueue("renewals.tasks.deliver_notices")  # with the broker down, beat's next pass sends them
    # Retry hooks that failed earlier (and any still waiting), bounded: the
    # every-5-minutes pass takes over whatever a slow provider leaves.
    provisioning_run(seconds=HOOK_PASS_SECONDS)
    return [] if reports is None else [r.date for r in reports]


@shared_task(acks_late=True)
def deliver_notices() -> dict:
    """Send the outbox, the operators' fault alerts and their notices of card
    refunds and disputes (beat runs it every minute, the nightly work at its
    end)."""
    from notifications.delivery import deliver_pending
    from payments.refunds import movements_alert

    counts = deliver_pending()
    counts["faults_alerted"] = faults_alert()
    counts["movements_alerted"] = movements_alert()
    return counts
