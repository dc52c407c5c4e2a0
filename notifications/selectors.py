"""Reads of notices: each signed-in user's message list (the panels), and
a batch of the outbox with what renders it (delivery)."""

from collections.abc import Iterable

from django.db.models import QuerySet

from core.errors import NotFound
from notifications.content import invoices_for
from notifications.models import Notice, NoticeKind
from tenants.scope import Actor, ActorKind


def messages_of(*, actor: Actor) -> QuerySet:
    """The notices addressed to the acting user's tenant, newest first: a
    customer's own, or the reseller's notices about its customers."""
    notices = Notice.objects.visible_to(actor)
    if actor.kind == ActorKind.RESELLER:
        return notices.filter(kind=NoticeKind.RESELLER_FAILURE, reseller_id=actor.reseller_id)
    if actor.kind == ActorKind.CUSTOMER:
        return notices.exclude(kind=NoticeKind.RESELLER_FAILURE)
    return notices.none()


def unread_count(actor: Actor) -> int:
    return messages_of(actor=actor).filter(read_at__isnull=True).count()


def message_detail(*, actor: Actor, notice_id: int) -> Notice:
    notice = messages_of(actor=actor).select_related("customer", "reseller").filter(pk=notice_id).first()
    if notice is None:
        raise NotFound(f"message {notice_id} not found")
    return notice


def notices_to_deliver(ids: Iterable[int]) -> tuple[list[Notice], dict]:
    """The notices ``ids`` in id order, with their customer, reseller and the
    reseller above it (the sender of a reseller's own notices), and the
    invoices (with lines and orders) they render from: four queries however
    many notices."""
    notices = list(
        Notice.objects.filter(pk__in=list(ids)).select_related("customer", "reseller__parent").order_by("pk")
    )
    return notices, invoices_for(notices)
