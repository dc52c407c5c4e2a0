"""Background work queued by task name, never failing the caller.

Services ask for a task by its name (no service imports a ``tasks`` module)
once their transaction commits. Without a broker the task runs in-process
(CELERY_TASK_ALWAYS_EAGER); with the broker down, or the task failing
in-process, the work simply stays in the database (a pending hook, a
pending notice) and the next scheduled pass takes it (SPEC "Faults and bad
data"): nothing the caller did is undone and nothing answers 500.
"""

import functools
import logging

from django.db import transaction
from django.utils.module_loading import import_string

log = logging.getLogger("core.queue")
# Task names whose last enqueue failed: the warning is logged once per outage.
_failing: set[str] = set()


def enqueue(name: str, *args) -> bool:
    """Queue (or, without a broker, run) the task ``name`` (its dotted path,
    "renewals.tasks.deliver_notices"); False when it could not be, after
    logging why once."""
    try:
        import_string(name).apply_async(args=args)
    except Exception as exc:  # noqa: BLE001 - the broker or the task's failure must not reach the caller
        if name not in _failing:
            _failing.add(name)
            log.warning("could not queue %s (%s); the next scheduled pass will do its work", name, exc)
        return False
    if name in _failing:
        _failing.discard(name)
        log.info("queueing %s works again", name)
    return True


def enqueue_on_commit(name: str, *args) -> None:
    """``enqueue`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(functools.partial(enqueue, name, *args), robust=True)


def broker_available(timeout: float = 2.0) -> bool:
    """Whether the Celery broker answers now (without one, tasks run
    in-process: nothing to wait for)."""
    from django.conf import settings

    from billing_portal.celery import app

    if settings.CELERY_TASK_ALWAYS_EAGER:
        return True
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - any failure to connect means: not available
        log.warning("the broker does not answer: %s", exc)
        return False
    return True
