"""One failing item never stops a loop over many (SPEC "Faults and bad data").

Every loop of the background work over accounts, orders, notices, hooks or
payment attempts runs its items through ``isolated``: each part in its own
transaction (or the work's own); a part that raises is rolled back and, when
it holds several items, split in halves until the items that fail are found
alone, so every healthy item of the part is still done. Each item that fails
alone is recorded as a ``Fault`` (stage, subject, business date, exception,
traceback), handed to the caller's ``failed`` (which records what the item's
failure means, e.g. an ``internal_error`` batch), and the loop goes on. The
operators are mailed once per fault by ``faults_alert``.

The happy path costs nothing extra: one call of ``work`` per part.
"""

import datetime
import logging
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from django.conf import settings
from django.core.mail import mail_admins
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.dates import business_today
from core.models import Fault

log = logging.getLogger("core.isolation")
T = TypeVar("T")
# A fault's text is kept whole enough to debug, short enough for a mail.
ERROR_CHARS = 2000
TRACEBACK_CHARS = 20000


@dataclass(frozen=True)
class Subject:
    """What an item is, for the fault record and the operators' mail."""

    key: str  # stable per item: "account:12", "order:40" (one alert per key and date)
    label: str = ""
    customer_id: int | None = None
    orders: tuple[str, ...] = ()


@dataclass
class Isolated:
    """What a loop left undone: each item that failed alone, with its error."""

    failed: list[tuple[object, BaseException]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.failed)


def isolated(
    items: Sequence[T],
    work: Callable[[list[T]], object],
    *,
    stage: str,
    subject: Callable[[T], Subject],
    on: datetime.date | None = None,
    run_id: int | None = None,
    chunk: int = 1,
    atomic: bool = True,
    failed: Callable[[T, BaseException], None] | None = None,
    record: bool = True,
) -> Isolated:
    """Call ``work(part)`` for consecutive parts of ``chunk`` items.

    ``atomic``: each call runs in a transaction (a savepoint inside the
    caller's); pass False when ``work`` opens its own transactions and makes
    network calls, which must not run inside one. ``failed(item, error)`` runs
    in the fault's transaction: if it (or recording the fault) raises, the
    loop cannot go on and the error propagates. ``record=False`` for work
    that must write nothing (a prediction): the failure is logged, not kept.
    """
    result = Isolated()
    on = on or business_today()

    def attempt(part: list[T]) -> None:
        try:
            if atomic:
                with transaction.atomic():
                    work(part)
            else:
                work(part)
        except Exception as exc:  # noqa: BLE001 - the point: one item's failure is recorded, the rest go on
            if len(part) > 1:
                middle = len(part) // 2
                attempt(part[:middle])
                attempt(part[middle:])
                return
            item = part[0]
            about = subject(item)
            log.exception("%s: %s failed on %s; rolled back, the rest go on", stage, about.label or about.key, on)
            with transaction.atomic():
                if record:
                    fault_record(stage=stage, subject=about, on=on, run_id=run_id, error=exc)
                if failed is not None:
                    failed(item, exc)
            result.failed.append((item, exc))

    items = list(items)
    for start in range(0, len(items), max(1, chunk)):
        attempt(items[start : start + chunk])
    return result


def each(items: Iterable[T], work: Callable[[T], object], **options) -> Isolated:
    """``isolated`` for work that takes one item at a time."""
    return isolated(list(items), lambda part: work(part[0]), chunk=1, **options)


def fault_record(*, stage: str, subject: Subject, on: datetime.date, error: BaseException, run_id=None) -> Fault:
    """Record (or count again) the fault of ``subject`` at ``stage`` on ``on``."""
    text = f"{type(error).__name__}: {error}"[:ERROR_CHARS]
    trace = "".join(traceback.format_exception(error))[-TRACEBACK_CHARS:]
    fault, created = Fault.objects.get_or_create(
        stage=stage,
        subject=subject.key,
        business_date=on,
        defaults={
            "label": subject.label[:300],
            "customer_id": subject.customer_id,
            "orders": list(subject.orders),
            "run_id": run_id,
            "error": text,
            "traceback": trace,
        },
    )
    if not created:
        Fault.objects.filter(pk=fault.pk).update(
            occurrences=F("occurrences") + 1,
            last_seen_at=timezone.now(),
            error=text,
            traceback=trace,
            run_id=run_id if run_id is not None else F("run_id"),
            resolved_at=None,
            resolved_by="",
        )
    return fault


def first_line(text: str) -> str:
    """An error's first line (its whole text and traceback stay on the fault)."""
    return text.strip().splitlines()[0] if text and text.strip() else ""


ALERT_LIMIT = 200


def operators_mail_once(queryset, *, subject, body, order_by=("pk",), related=()) -> int:
    """Mail the operators (settings.ADMINS) about the rows of ``queryset`` (a
    model with ``alerted_at``) not told yet, in one message
    (``subject(rows)``, ``body(rows)``); returns how many it told. Claimed
    before sending, so two workers never send one twice; released when the
    mail server fails, so the next pass (every minute) sends them."""
    model = queryset.model
    ids = list(queryset.filter(alerted_at__isnull=True).order_by("pk").values_list("pk", flat=True)[:ALERT_LIMIT])
    if not ids:
        return 0
    # The claim: this pass's timestamp on the rows nobody claimed yet.
    now = timezone.now()
    if not model.objects.filter(pk__in=ids, alerted_at__isnull=True).update(alerted_at=now):
        return 0
    rows = list(model.objects.filter(pk__in=ids, alerted_at=now).select_related(*related).order_by(*order_by))
    try:
        mail_admins(subject(rows), body(rows), fail_silently=False)
    except Exception as exc:  # noqa: BLE001 - the mail server's failure: tried again on the next pass
        log.warning("could not mail the operators about %d %s(s): %s", len(rows), model._meta.verbose_name, exc)
        model.objects.filter(pk__in=[row.pk for row in rows], alerted_at=now).update(alerted_at=None)
        return 0
    return len(rows)


def faults_alert() -> int:
    """The faults not told yet, in one mail per pass (every minute, and after
    each nightly run)."""
    return operators_mail_once(
        Fault.objects.all(), subject=_alert_subject, body=_alert_body, order_by=("business_date", "stage", "pk")
    )


def _alert_subject(faults: list[Fault]) -> str:
    dates = sorted({f.business_date.isoformat() for f in faults})
    when = dates[0] if len(dates) == 1 else f"{dates[0]}..{dates[-1]}"
    return f"{len(faults)} item(s) of the nightly work failed ({when}): rolled back, the rest went on"


def _alert_body(faults: list[Fault]) -> str:
    portal = getattr(settings, "PORTAL_URL", "").rstrip("/")
    lines = [
        "Each item below was rolled back on its own; everything else was done.",
        "An account that failed renewing is retried the next night; its orders are",
        "not suspended while its last attempt failed this way. The customer was not told.",
        f"Details and tracebacks: {portal}/admin/core/fault/ (and the status page {portal}/admin/status/).",
        "",
    ]
    for fault in faults:
        lines.append(f"- {fault.business_date} {fault.get_stage_display()}: {fault.label or fault.subject}")
        if fault.orders:
            lines.append(f"  orders: {', '.join(fault.orders)}")
        lines.append(f"  error: {first_line(fault.error)}")
    return "\n".join(lines) + "\n"
