"""The provisioning hook: what happens at the hosting, domain or cloud end when
an order is suspended, restored or terminated, or its certificate reissued.

``settings.PROVISIONING_HOOK`` names a callable ``hook(event)`` taking a
``LifecycleEvent``; it must be idempotent (it may be called again after a
failure). It runs after the transition's transaction committed, never inside
it; a hook that raises is retried and shown to admins as failed.

``reissue`` (an SSL order renewed by hand with a CSR, SPEC "SSL renewals need
a CSR"): one event per order and cycle renewed, written in the renewal's
transaction (for a card payment, when the charge settles);
``renewals.csr.event_csr(event)`` gives the ``RenewalCsr`` to send to the
certificate authority (``.pem``, ``.common_name``).
"""

import logging

from django.conf import settings
from django.utils.module_loading import import_string

from renewals.csr import event_csr
from renewals.models import Transition

log = logging.getLogger("renewals.provisioning")


def log_hook(event) -> None:
    """The default hook: record what a real integration would do."""
    log.info("provisioning: %s order %s (cycle %s)", event.transition, event.order.ref, event.cycle)
    if event.transition == Transition.REISSUE:
        csr = event_csr(event)
        log.info("provisioning: reissue order %s for %s", event.order.ref, csr.common_name if csr else "(no CSR)")


def provisioning_hook():
    return import_string(getattr(settings, "PROVISIONING_HOOK", "renewals.provisioning.log_hook"))
