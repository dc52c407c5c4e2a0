"""Creating notices: outbox rows written in the caller's transaction, at most
one per (kind, subject, cycle, recipient) however often the caller runs.

Delivery (mail, retries) and the full templates belong to the notifications
issue; the rows, their keys and a plain-text body are written from here on.
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
    subject: str
    body_text: str
    order_refs: list[str] = field(default_factory=list)


def notices_create(specs: list[NoticeSpec], *, new: bool = False) -> int:
    """Insert the notices that do not exist yet; returns how many were offered.

    ``new=True`` is for callers whose own claim already makes every key new
    (a batch attempt, a lifecycle move): the rows are then written in bulk and
    a duplicate is an error, not silently dropped."""
    now = db_now()
    insert_rows(
        Notice,
        ("kind", "customer_id", "reseller_id", "recipient", "subject_key", "cycle", "business_date", "created_at",
         "subject", "body_text", "order_refs"),
        # state, attempts, last_error and body_html take their database defaults.
        [
            (s.kind, s.customer_id, s.reseller_id, s.recipient, s.subject_key, s.cycle, s.business_date, now,
             s.subject, s.body_text, json.dumps(s.order_refs))
            for s in specs
        ],
        ignore_conflicts=not new,
    )  # fmt: skip
    return len(specs)
