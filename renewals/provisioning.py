"""The provisioning hook: what happens at the hosting, domain or cloud end when
an order is suspended, restored or terminated.

``settings.PROVISIONING_HOOK`` names a callable ``hook(event)`` taking a
``LifecycleEvent``; it must be idempotent (it may be called again after a
failure). It runs after the transition's transaction committed, never inside
it; a hook that raises is retried and shown to admins as failed.
"""

import logging

from django.conf import settings
from django.utils.module_loading import import_string

log = logging.getLogger("renewals.provisioning")


def log_hook(event) -> None:
    """The default hook: record what a real integration would do."""
    log.info("provisioning: %s order %s (cycle %s)", event.transition, event.order.ref, event.cycle)


def provisioning_hook():
    return import_string(getattr(settings, "PROVISIONING_HOOK", "renewals.provisioning.log_hook"))
