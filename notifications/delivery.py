"""Delivering the outbox by email (Django's mail framework), each notice once.

A notice is claimed by a conditional UPDATE before it is sent, so two workers
never send the same one. A failed send is retried with backoff (1, 2, 4 ...
minutes, at most 6 hours apart); a notice with no email address stays a panel
message. Customer mail goes out in the reseller's name (white label): the
platform's sending address with the reseller's name, the reseller's address
as Reply-To; a reseller's own notices come from the reseller above it, or
from the platform.
"""

import datetime
import logging
from email.utils import formataddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db.models import Q
from django.utils import timezone

from core.isolation import Subject, each
from core.models import Stage
from notifications.content import Rendered
from notifications.models import DeliveryState, Notice, NoticeKind

log = logging.getLogger("notifications.delivery")
MAX_BACKOFF = datetime.timedelta(hours=6)


def backoff(attempts: int) -> datetime.timedelta:
    return min(datetime.timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def deliver_pending(*, limit: int = 500, now: datetime.datetime | None = None) -> dict[str, int]:
    """Send what is due: pending notices, and failed ones whose retry time came.

    A mail server's refusal is the expected failure: the notice waits for its
    retry. Anything else (a notice that cannot be rendered) is recorded as a
    fault and retried the same way, and the other notices go out
    (core.isolation)."""
    now = now or timezone.now()
    counts = {DeliveryState.SENT.value: 0, DeliveryState.FAILED.value: 0, DeliveryState.PANEL_ONLY.value: 0}
    due = list(
        Notice.objects.filter(Q(state=DeliveryState.PENDING) | Q(state=DeliveryState.FAILED, next_attempt_at__lte=now))
        .order_by("pk")
        .values_list("pk", "state", "attempts")[:limit]
    )
    mail = {"connection": None}  # one SMTP connection for the pass, opened on first use

    def deliver(candidate: tuple[int, str, int]) -> None:
        pk, state, attempts = candidate
        # Claim: only the worker whose UPDATE moves the attempt counter sends it.
        if not Notice.objects.filter(pk=pk, state=state, attempts=attempts).update(attempts=attempts + 1):
            return
        notice = Notice.objects.select_related("reseller__parent", "customer").get(pk=pk)
        # Rendered once and kept: a retry sends the same words, the panel shows them.
        content = notice.rendered()
        stored = {"subject": content.subject, "body_text": content.text, "body_html": content.html}
        if not notice.recipient:
            Notice.objects.filter(pk=pk).update(state=DeliveryState.PANEL_ONLY, **stored)
            counts[DeliveryState.PANEL_ONLY] += 1
            return
        try:
            mail["connection"] = mail["connection"] or get_connection(fail_silently=False)
            _message(notice, content, mail["connection"]).send()
        except Exception as exc:  # noqa: BLE001 - the mail server's failure is recorded and retried
            log.warning("notice %s not sent (attempt %s): %s", pk, attempts + 1, exc)
            _retry_later(pk, attempts + 1, exc, now, **stored)
            counts[DeliveryState.FAILED] += 1
            mail["connection"] = None
            return
        Notice.objects.filter(pk=pk).update(state=DeliveryState.SENT, sent_at=timezone.now(), last_error="", **stored)
        counts[DeliveryState.SENT] += 1

    def undeliverable(candidate: tuple[int, str, int], error: BaseException) -> None:
        _retry_later(candidate[0], candidate[2] + 1, error, now)
        counts[DeliveryState.FAILED] += 1

    # No transaction around a send: it talks to the mail server.
    each(
        due,
        deliver,
        stage=Stage.DELIVERY,
        subject=lambda candidate: Subject(key=f"notice:{candidate[0]}", label=f"notice {candidate[0]}"),
        atomic=False,
        failed=undeliverable,
    )
    return counts


def _retry_later(pk: int, attempts: int, error: BaseException, now: datetime.datetime, **stored) -> None:
    Notice.objects.filter(pk=pk).update(
        state=DeliveryState.FAILED,
        last_error=str(error)[:2000],
        next_attempt_at=now + backoff(attempts),
        **stored,
    )


def _message(notice: Notice, content: Rendered, connection) -> EmailMultiAlternatives:
    # A customer hears from their reseller; a reseller from the one above it, or the platform.
    sender = notice.reseller.parent if notice.kind == NoticeKind.RESELLER_FAILURE else notice.reseller
    message = EmailMultiAlternatives(
        subject=content.subject,
        body=content.text,
        from_email=formataddr((sender.name, settings.DEFAULT_FROM_EMAIL)) if sender else settings.DEFAULT_FROM_EMAIL,
        to=[notice.recipient],
        reply_to=[sender.email] if sender and sender.email else None,
        connection=connection,
        headers={"X-Portal-Notice": f"{notice.kind}:{notice.pk}"},
    )
    message.attach_alternative(content.html, "text/html")
    return message
