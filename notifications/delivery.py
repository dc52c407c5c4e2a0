"""Delivering the outbox by email (Django's mail framework), each notice once,
in batches: a batch is claimed by one statement, loaded and rendered with a
fixed number of queries, sent over one SMTP connection and recorded by a
few set-based UPDATEs.

The claim moves a batch's attempt counters and leases its notices (their
``next_attempt_at`` moves past the end of the run), in one UPDATE over rows
locked with SKIP LOCKED on PostgreSQL: two workers never take the same
notice, and a worker that dies mid-batch leaves its notices to be taken
again once the lease ends. A failed send is retried with backoff (1, 2, 4 ...
minutes, at most 6 hours apart); a notice with no email address stays a
panel message. Customer mail goes out in the reseller's name (white label):
the platform's sending address with the reseller's name, the reseller's
address as Reply-To; a reseller's own notices come from the reseller above
it, or from the platform.

A ``renewal_succeeded`` mail carries its invoice as a PDF ("<number>.pdf",
invoices/pdf.py), rendered when it is sent, once per invoice in a batch
however many notices name it. A PDF that cannot be rendered is its notice's
failure (a fault, retried with backoff like a refusal); the others go on.

A slow or hanging mail server is bounded twice: every SMTP operation by
``EMAIL_TIMEOUT``, and a run by ``NOTICE_DELIVERY_SECONDS`` (the notices it
had no time for are handed back untouched, for the next run).
"""

import datetime
import logging
import smtplib
import time
from email.utils import formataddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection as db
from django.db.models import Case, DateTimeField, F, Value, When
from django.utils import timezone

from core.isolation import Subject, each
from core.models import Stage
from core.sql import update_from_values
from invoices.pdf import MEDIA_TYPE, filename, invoice_pdf
from invoices.selectors import invoices_for_pdf
from notifications.content import Rendered
from notifications.models import DeliveryState, Notice, NoticeKind
from notifications.selectors import notices_to_deliver

log = logging.getLogger("notifications.delivery")
# The notices whose mail carries their invoice's PDF (SPEC "Beyond the peers").
ATTACHES_INVOICE = frozenset({NoticeKind.RENEWAL_SUCCEEDED})
MAX_BACKOFF = datetime.timedelta(hours=6)
# A connection that breaks is opened again for the rest of its batch, this
# many times at most; then the rest wait for their retry.
OPENS_PER_BATCH = 3
# Results are written every so many messages: a worker killed mid-batch
# sends again (after the lease) only what it had not recorded yet.
RECORD_EVERY = 100
# The tests replace it to end a run's time without waiting for it.
clock = time.monotonic


def backoff(attempts: int) -> datetime.timedelta:
    return min(datetime.timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def lease(seconds: float) -> datetime.timedelta:
    """How long a run holds the notices it claimed: its own time, then the
    longest a last message can take past it (connecting, greeting, EHLO,
    MAIL, RCPT, DATA, the message: each bounded by EMAIL_TIMEOUT), and a
    minute for recording."""
    return datetime.timedelta(seconds=seconds + 10 * (settings.EMAIL_TIMEOUT or 0) + 60)


def deliver_pending(
    *, limit: int | None = None, now: datetime.datetime | None = None, seconds: float | None = None
) -> dict[str, int]:
    """Send what is due (pending notices, and failed ones whose retry time
    came), a batch of ``limit`` (NOTICE_BATCH_SIZE) at a time, until nothing
    is due or ``seconds`` (NOTICE_DELIVERY_SECONDS) have passed.

    A mail server's refusal is the expected failure: the notice waits for its
    retry. Anything else (a notice that cannot be rendered) is recorded as a
    fault and retried the same way, and the other notices go out
    (core.isolation). Returns how many were sent, failed, shown in the panel
    only, handed back for lack of time (``deferred``), and the SMTP
    connections opened."""
    now = now or timezone.now()
    size = limit or settings.NOTICE_BATCH_SIZE
    seconds = settings.NOTICE_DELIVERY_SECONDS if seconds is None else seconds
    deadline = clock() + seconds
    held_until = now + lease(seconds)
    counts = {"sent": 0, "failed": 0, "panel_only": 0, "deferred": 0, "connections": 0}
    while clock() < deadline:
        claimed = _claim(size, now, held_until)
        if not claimed:
            break
        batch = _Batch(claimed, now=now, deadline=deadline, counts=counts)
        batch.run()
        # A server that cannot be reached is tried again by the next run, not
        # once per batch of this one.
        if len(claimed) < size or batch.mailer.unreachable:
            break
    return counts


def _claim(size: int, now: datetime.datetime, held_until: datetime.datetime) -> dict[int, int]:
    """Take up to ``size`` due notices, oldest first: {id: attempts, this one
    included}. One statement: rows another worker holds are skipped, and a
    claimed row is not due again before ``held_until``."""
    table = Notice._meta.db_table
    due = "state IN (%s, %s) AND (next_attempt_at IS NULL OR next_attempt_at <= %s)"
    adapt = db.ops.adapt_datetimefield_value
    params = [DeliveryState.PENDING, DeliveryState.FAILED, adapt(now), size, adapt(held_until)]
    if db.vendor == "postgresql":
        # The pick materialised first: as an IN (subquery) the planner may
        # run the LIMITed, SKIP LOCKED subquery more than once and claim
        # more than ``size`` (seen in CI: 12 claimed for a limit of 5).
        sql = (
            f"WITH picked AS MATERIALIZED (SELECT id FROM {table} WHERE {due} ORDER BY id LIMIT %s "
            f"FOR UPDATE SKIP LOCKED) "
            f"UPDATE {table} SET attempts = attempts + 1, next_attempt_at = %s FROM picked "
            f"WHERE {table}.id = picked.id RETURNING {table}.id, {table}.attempts"
        )
    else:  # SQLite has one writer: nothing to skip
        sql = (
            f"WITH picked AS (SELECT id FROM {table} WHERE {due} ORDER BY id LIMIT %s) "
            f"UPDATE {table} SET attempts = attempts + 1, next_attempt_at = %s "
            f"WHERE id IN (SELECT id FROM picked) RETURNING id, attempts"
        )
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


class _Batch:
    """One claimed batch: render, send over one connection, record."""

    def __init__(self, claimed: dict[int, int], *, now, deadline: float, counts: dict[str, int]):
        self.attempts = claimed
        self.now = now
        self.deadline = deadline
        self.counts = counts
        self.sent: list[tuple[int, Rendered]] = []
        self.failed: list[tuple[int, Rendered, str]] = []
        self.deferred: list[int] = []
        self.mailer = _Mailer(counts)
        self.invoices: dict = {}  # id -> Invoice: the ones whose PDF a mail attaches
        self.pdfs: dict[int, bytes | Exception] = {}  # rendered once per invoice and batch

    def run(self) -> None:
        notices, invoices = notices_to_deliver(self.attempts)
        rendered: dict[int, Rendered] = {}

        def render(notice: Notice) -> None:
            # Rendered once and kept: a retry sends the same words, the panel shows them.
            rendered[notice.pk] = notice.rendered(invoices=invoices)

        each(notices, render, stage=Stage.DELIVERY, subject=_subject, atomic=False, failed=self._unrenderable)
        notices = [n for n in notices if n.pk in rendered]
        panel = [(n.pk, rendered[n.pk]) for n in notices if not n.recipient]
        _record(panel, DeliveryState.PANEL_ONLY)
        self.counts[DeliveryState.PANEL_ONLY] += len(panel)
        self._load_invoices([n for n in notices if n.recipient], invoices)

        def send(notice: Notice) -> None:
            self._send(notice, rendered[notice.pk])

        try:
            each(
                [n for n in notices if n.recipient],
                send,
                stage=Stage.DELIVERY,
                subject=_subject,
                atomic=False,
                failed=lambda notice, error: self._failed(notice.pk, rendered[notice.pk], error),
            )
        finally:
            self.mailer.close()
            self._flush()

    def _load_invoices(self, notices: list[Notice], loaded: dict) -> None:
        """The invoices the mails attach: those the rendering loaded (with
        their seller and customer), the others (a notice rendered by an
        earlier attempt) in three more queries."""
        wanted = {_invoice_id(n) for n in notices if n.kind in ATTACHES_INVOICE} - {None}
        self.invoices = {pk: loaded[pk] for pk in wanted if pk in loaded}
        self.invoices.update(invoices_for_pdf(wanted - self.invoices.keys()))

    def _attachments(self, notice: Notice) -> list[tuple[str, bytes, str]]:
        if notice.kind not in ATTACHES_INVOICE:
            return []
        invoice = self.invoices.get(_invoice_id(notice))
        if invoice is None:  # bad data: this notice's fault alone (core.isolation)
            raise LookupError(f"notice {notice.pk} names no invoice to attach: {notice.data.get('invoice_id')!r}")
        pdf = self.pdfs.get(invoice.pk)
        if pdf is None:
            try:
                pdf = invoice_pdf(invoice)
            except Exception as exc:
                self.pdfs[invoice.pk] = exc  # its other notices fail alike, without rendering again
                raise
            self.pdfs[invoice.pk] = pdf
        if isinstance(pdf, Exception):
            raise RuntimeError(f"the PDF of invoice {invoice.number} could not be rendered: {pdf}") from pdf
        return [(filename(invoice), pdf, MEDIA_TYPE)]

    def _send(self, notice: Notice, content: Rendered) -> None:
        if clock() >= self.deadline:
            self.deferred.append(notice.pk)
            return
        # Before the connection is used: a PDF that fails is this notice's
        # fault (core.isolation records it, _failed retries it), the
        # connection stays up for the others.
        message = _message(notice, content, self._attachments(notice))
        try:
            self.mailer.send(message)
        except (smtplib.SMTPException, OSError) as exc:
            # The mail server's answer (or silence): this notice waits for its retry.
            self.failed.append((notice.pk, content, str(exc)))
            if _breaks_connection(exc):
                self.mailer.close()
        except Exception:
            # Anything else is a fault (core.isolation records it and calls
            # _failed); the connection may be left mid-message.
            self.mailer.close()
            raise
        else:
            self.sent.append((notice.pk, content))
        if len(self.sent) + len(self.failed) >= RECORD_EVERY:
            self._flush()

    def _failed(self, pk: int, content: Rendered, error: BaseException) -> None:
        self.failed.append((pk, content, f"{type(error).__name__}: {error}"))

    def _unrenderable(self, notice: Notice, error: BaseException) -> None:
        attempts = self.attempts[notice.pk]
        Notice.objects.filter(pk=notice.pk).update(
            state=DeliveryState.FAILED, last_error=str(error)[:2000], next_attempt_at=self.now + backoff(attempts)
        )
        self.counts[DeliveryState.FAILED] += 1

    def _flush(self) -> None:
        sent, failed, deferred = self.sent, self.failed, self.deferred
        self.sent, self.failed, self.deferred = [], [], []
        _record(sent, DeliveryState.SENT)
        self.counts[DeliveryState.SENT] += len(sent)
        for pk, _, error in failed:
            log.warning("notice %s not sent (attempt %s): %s", pk, self.attempts[pk], error)
        _record_failed([(pk, content, error, self.now + backoff(self.attempts[pk])) for pk, content, error in failed])
        self.counts[DeliveryState.FAILED] += len(failed)
        if deferred:
            # Not tried: as it was before the claim, for the next run.
            Notice.objects.filter(pk__in=deferred).update(
                attempts=F("attempts") - 1,
                next_attempt_at=Case(
                    When(state=DeliveryState.PENDING, then=Value(None)),
                    default=Value(self.now),
                    output_field=DateTimeField(),
                ),
            )
            self.counts["deferred"] += len(deferred)


class _Mailer:
    """One SMTP connection, opened when first needed and again (a few times)
    after it broke; once it cannot be opened, every send fails at once with
    the reason, so a dead server costs one timeout per batch, not per notice."""

    def __init__(self, counts: dict[str, int]):
        self.counts = counts
        self.backend = None
        self.opens = 0
        self.error: Exception | None = None
        self.unreachable = False

    def send(self, message: EmailMultiAlternatives) -> None:
        if self.error is not None:
            raise self.error
        if self.backend is None:
            if self.opens >= OPENS_PER_BATCH:
                self.error = smtplib.SMTPServerDisconnected(f"the connection broke {self.opens} times in this batch")
                raise self.error
            self.opens += 1
            backend = get_connection(fail_silently=False, timeout=settings.EMAIL_TIMEOUT)
            try:
                backend.open()
            except Exception as exc:
                self.error, self.unreachable = exc, True
                raise
            self.backend = backend
            self.counts["connections"] += 1
        if not self.backend.send_messages([message]):
            raise smtplib.SMTPException("the mail backend sent nothing")

    def close(self) -> None:
        backend, self.backend = self.backend, None
        if backend is None:
            return
        try:
            backend.close()
        except Exception as exc:  # noqa: BLE001 - QUIT to a server that is gone: nothing left to do
            log.info("closing the SMTP connection: %s", exc)


def _breaks_connection(error: BaseException) -> bool:
    """Whether the connection is unusable after ``error``: a refusal of one
    recipient or message leaves it open (smtplib resets the transaction); a
    421 answer, a disconnection or a timeout does not."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return any(code == 421 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code == 421
    return True


def _record(rows: list[tuple[int, Rendered]], state: DeliveryState) -> None:
    """Sent or shown in the panel: the words as they went, in one UPDATE."""
    if not rows:
        return
    table = Notice._meta.db_table
    columns = ("id", "subject", "body_text", "body_html")
    values = [(pk, c.subject, c.text, c.html) for pk, c in rows]
    set_sql = (
        f"state = '{state.value}', subject = v.subject, body_text = v.body_text, body_html = v.body_html, "
        f"last_error = '', next_attempt_at = NULL"
    )
    if state == DeliveryState.SENT:
        at = db.ops.adapt_datetimefield_value(timezone.now())
        columns, values, set_sql = (
            (*columns, "sent_at"),
            [(*row, at) for row in values],
            set_sql + ", sent_at = v.sent_at",
        )
    update_from_values(table, columns, values, set_sql=set_sql, where_sql=f"{table}.id = v.id")


def _record_failed(rows: list[tuple[int, Rendered, str, datetime.datetime]]) -> None:
    if not rows:
        return
    table = Notice._meta.db_table
    adapt = db.ops.adapt_datetimefield_value
    update_from_values(
        table,
        ("id", "subject", "body_text", "body_html", "last_error", "next_attempt_at"),
        [(pk, c.subject, c.text, c.html, error[:2000], adapt(retry)) for pk, c, error, retry in rows],
        set_sql=(
            f"state = '{DeliveryState.FAILED.value}', subject = v.subject, body_text = v.body_text, "
            f"body_html = v.body_html, last_error = v.last_error, next_attempt_at = v.next_attempt_at"
        ),
        where_sql=f"{table}.id = v.id",
    )


def _invoice_id(notice: Notice) -> int | None:
    value = notice.data.get("invoice_id") if isinstance(notice.data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _subject(notice: Notice) -> Subject:
    return Subject(key=f"notice:{notice.pk}", label=f"notice {notice.pk}", customer_id=notice.customer_id)


def _message(notice: Notice, content: Rendered, attachments=()) -> EmailMultiAlternatives:
    # A customer hears from their reseller; a reseller from the one above it, or the platform.
    sender = notice.reseller.parent if notice.kind == NoticeKind.RESELLER_FAILURE else notice.reseller
    message = EmailMultiAlternatives(
        subject=content.subject,
        body=content.text,
        from_email=formataddr((sender.name, settings.DEFAULT_FROM_EMAIL)) if sender else settings.DEFAULT_FROM_EMAIL,
        to=[notice.recipient],
        reply_to=[sender.email] if sender and sender.email else None,
        headers={"X-Portal-Notice": f"{notice.kind}:{notice.pk}"},
    )
    message.attach_alternative(content.html, "text/html")
    for name, data, media_type in attachments:
        message.attach(name, data, media_type)
    return message
