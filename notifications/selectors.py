"""Reads of notices for the panels: each signed-in user's message list."""

from django.db.models import QuerySet

from core.errors import NotFound
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
