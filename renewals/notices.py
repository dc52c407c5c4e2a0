"""The failure notices of a batch, decided in one place for the balance path
(the sweep) and the card path (a declined charge).

SPEC: ``renewal_failed`` on the first failed attempt of a cycle,
``renewal_last_chance`` on the expiry day, or the retry policy's last-chance
day (docs/dunning.md), alone when the first failure falls on it, and
``reseller_failure`` to the reseller on both occasions; never a notice a
night in between.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from notifications.content import money, order_row
from notifications.services import NoticeSpec, notices_create
from renewals.events import failed_events
from renewals.models import BatchOutcome, OrderOutcome
from renewals.rules import WHAT_TO_DO, Period, Reason


@dataclass
class FailedOrder:
    id: int
    ref: str
    description: str
    expires_on: datetime.date
    period: Period | None

    def row(self, currency: str) -> dict:
        period = self.period
        return order_row(
            self.ref,
            self.description,
            self.expires_on,
            start=period and period.start,
            end=period and period.end,
            amount=money(period.amount, currency) if period else "",
        )


@dataclass
class Failure:
    """One account's batch that failed on a business date."""

    customer_id: int
    reseller_id: int
    email: str
    currency: str
    orders: list[FailedOrder]
    total: Decimal
    reason: str
    detail: str = ""  # the card processor's words, when it gave some
    # Its retry policy's last-chance day (days before expiry; docs/dunning.md).
    last_chance_day: int = 0


def reason_words(reason: str, detail: str = "") -> dict:
    """What a failure notice says of its reason: ``why`` (the card
    processor's words when it gave some, else the reason's sentence) and
    ``what_to_do``. Stored on the notice, which notifications render as they
    are (they never import renewals)."""
    known = Reason(reason) if reason else None
    return {"why": detail or (known.label if known else ""), "what_to_do": WHAT_TO_DO[known] if known else ""}


def failure_notices(failures: list[Failure], on: datetime.date) -> None:
    """Write the notices of batches that failed on ``on``, whose attempt
    rows (this date's) the caller has just written."""
    if not failures:
        return
    # renewal.failed for the resellers' webhooks: every failed attempt, notice or not.
    failed_events(failures, on)
    from tenants.models import Reseller

    # An internal error is not the customer's failure: the first one of theirs still tells them.
    failed_before = set(
        OrderOutcome.objects.filter(
            order_id__in=[o.id for f in failures for o in f.orders],
            outcome=BatchOutcome.FAILED,
            business_date__lt=on,
        )
        .exclude(reason=Reason.INTERNAL_ERROR)
        .values_list("order_id", "cycle")
    )
    resellers = dict(Reseller.objects.filter(pk__in={f.reseller_id for f in failures}).values_list("pk", "email"))
    specs = []
    for failure in failures:
        orders = failure.orders
        first = [o for o in orders if (o.id, o.expires_on) not in failed_before]
        chance = datetime.timedelta(days=failure.last_chance_day)
        last_chance = any(o.expires_on - chance == on for o in orders)
        kinds = []
        if last_chance:
            kinds.append("renewal_last_chance")
        if first and not all(o.expires_on - chance == on for o in first):
            kinds.append("renewal_failed")
        if not kinds:
            continue
        data = {
            "orders": [o.row(failure.currency) for o in orders],
            "total": money(failure.total, failure.currency),
            "reason": failure.reason,
            "detail": failure.detail,
            **reason_words(failure.reason, failure.detail),
            "retry_until": min(o.expires_on for o in orders).isoformat(),
        }
        common = {
            "customer_id": failure.customer_id,
            "reseller_id": failure.reseller_id,
            "business_date": on,
            "order_refs": [o.ref for o in orders],
            "cycle": on.isoformat(),
            "subject_key": f"account:{failure.customer_id}",
        }
        for kind in kinds:
            specs.append(NoticeSpec(kind=kind, recipient=failure.email, data=data, **common))
        if resellers.get(failure.reseller_id) is not None:
            specs.append(
                NoticeSpec(
                    kind="reseller_failure",
                    recipient=resellers[failure.reseller_id],
                    data={**data, "last_chance": last_chance},
                    **common,
                )
            )
    # Keyed by account and date: one of each, however often a settlement repeats.
    notices_create(specs)
