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


# A monitor polls this, and a run asks it once: answer within a second.
BROKER_TIMEOUT_SECONDS = 1


def broker_problem() -> str | None:
    """Why the Celery broker does not answer now, or None when it does or
    when there is none (tasks then run in-process): one connection with short
    timeouts and no retry, to ``settings.REDIS_URL`` as it is now."""
    from celery import current_app as app  # the project's (billing_portal/celery.py), loaded with the settings
    from django.conf import settings

    if not settings.REDIS_URL or settings.CELERY_TASK_ALWAYS_EAGER:
        return None
    timeouts = {"socket_connect_timeout": BROKER_TIMEOUT_SECONDS, "socket_timeout": BROKER_TIMEOUT_SECONDS}
    try:
        with app.connection_for_write(settings.REDIS_URL, transport_options=timeouts) as connection:
            connection.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - any failure to connect means: not available
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:300]
    return None


def broker_available() -> bool:
    """Whether work can go to the Celery workers now (logged when not)."""
    problem = broker_problem()
    if problem is not None:
        log.warning("the broker does not answer: %s", problem)
    return problem is None
