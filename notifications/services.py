"""Creating notices: outbox rows written in the caller's transaction, at most
one per (kind, subject, cycle, recipient) however often the caller runs.

Delivery (mail, retries) and the full templates belong to the notifications
issue; the rows, their keys and a plain-text body are written from here on.
"""

import datetime
from dataclasses import dataclass, field

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


def notices_create(specs: list[NoticeSpec]) -> int:
    """Insert the notices that do not exist yet; returns how many were offered."""
    Notice.objects.bulk_create(
        [
            Notice(
                kind=s.kind,
                customer_id=s.customer_id,
                reseller_id=s.reseller_id,
                recipient=s.recipient,
                subject_key=s.subject_key,
                cycle=s.cycle,
                business_date=s.business_date,
                subject=s.subject,
                body_text=s.body_text,
                order_refs=s.order_refs,
            )
            for s in specs
        ],
        ignore_conflicts=True,
        batch_size=500,
    )
    return len(specs)
