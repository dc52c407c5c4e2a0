"""Creating notices: outbox rows written in the caller's transaction, at most
one per (kind, subject, cycle, recipient) however often the caller runs.

A notice stores the facts its cause knows (``data``); ``content.render``
turns them into words when it is delivered (``delivery``) or read.
"""

import datetime
import json
from dataclasses import dataclass, field

from core.sql import db_now, insert_rows
from notifications.models import Notice


@dataclass
class NoticeSpec:
    kind: str
    customer_id: int
    reseller_id: int
    recipient: str
    subject_key: str
    cycle: str
    business_date: datetime.date
    data: dict
    order_refs: list[str] = field(default_factory=list)


def notices_create(specs: list[NoticeSpec], *, new: bool = False) -> int:
    """Insert the notices that do not exist yet; returns how many were offered.

    ``new=True`` is for callers whose own claim already makes every key new
    (a batch attempt, a lifecycle move): the rows are then written in bulk and
    a duplicate is an error, not silently dropped."""
    now = db_now()
    texts: dict[int, str] = {}

    def dumped(value) -> str:
        # One account's notices share their facts and refs (the writer's
        # two per invoice): each object is serialised once. Keyed by
        # identity: the specs keep every object alive meanwhile.
        text = texts.get(id(value))
        if text is None:
            text = texts[id(value)] = json.dumps(value)
        return text

    insert_rows(
        Notice,
        ("kind", "customer_id", "reseller_id", "recipient", "subject_key", "cycle", "business_date", "created_at",
         "data", "order_refs"),
        # The rendered text, state, attempts and last_error take their database defaults.
        [
            (s.kind, s.customer_id, s.reseller_id, s.recipient, s.subject_key, s.cycle, s.business_date, now,
             dumped(s.data), dumped(s.order_refs))
            for s in specs
        ],
        ignore_conflicts=not new,
    )  # fmt: skip
    return len(specs)


def notice_mark_read(*, actor, notice_id: int) -> None:
    """The recipient opened the message: it no longer counts as unread."""
    from django.utils import timezone

    from notifications.selectors import messages_of

    messages_of(actor=actor).filter(pk=notice_id, read_at__isnull=True).update(read_at=timezone.now())
