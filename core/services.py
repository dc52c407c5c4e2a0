"""Writes on core's own records (the faults of the nightly work)."""

from collections.abc import Iterable

from django.utils import timezone

from core.actors import Actor
from core.models import Fault


def faults_resolve(*, actor: Actor, ids: Iterable[int]) -> int:
    """Mark open faults resolved by ``actor`` (an operator has dealt with
    them); returns how many moved.

    One conditional UPDATE: a fault already resolved keeps who resolved it
    and when, so resolving twice (or two operators at once) changes it once.
    ``resolved_by`` and ``resolved_at`` are the record of who did it; a fault
    that recurs later is open again (core.isolation.fault_record)."""
    return Fault.objects.filter(pk__in=list(ids), resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=actor.label[:150]
    )
