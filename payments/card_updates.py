"""A saved card changed at the processor: Stripe's ``payment_method.updated``
(the holder or the portal changed it) and ``payment_method.automatically_updated``
(the card network's account updater replaced an expired or reissued card)
tell us its new brand, last 4 and expiry, so the panel never shows a stale
card and the night's charge is not held back by an old decline.
"""

import datetime

from django.utils import timezone

from audit.services import audit_record
from payments.models import Card
from tenants.scope import Actor

FIELDS = ("brand", "last4", "exp_month", "exp_year")


def card_processor_update(
    *,
    payment_method_id: str,
    brand: str,
    last4: str,
    exp_month: int | None,
    exp_year: int | None,
    at: datetime.datetime,
    actor: Actor,
) -> str:
    """Apply what the processor says of the card at ``at`` (the event's
    time); returns what was done, in words. Call inside a transaction.

    An unknown payment method changes nothing (not a card saved here, or
    removed since). An event older than the card's last update changes
    nothing: Stripe does not deliver in order, and the newer one already
    told the truth. A new expiry or last 4 is a new card: the hard-decline
    block of the old one (Card.retry_blocked_until) is lifted in the same
    UPDATE. The change is audited as the processor's."""
    card = Card.objects.select_for_update().filter(stripe_payment_method_id=payment_method_id).first()
    if card is None:
        return f"no card for {payment_method_id or 'a payment method without an id'}"
    if card.updated_at is not None and at < card.updated_at:
        return f"card {card.pk}: ignored an update of {at.isoformat()}, older than {card.updated_at.isoformat()}"
    # What the event does not say (or says unusably) stays as it was.
    month, year = (exp_month, exp_year) if _expiry_usable(exp_month, exp_year) else (card.exp_month, card.exp_year)
    after = {
        "brand": str(brand)[:30] or card.brand,
        "last4": last4 if isinstance(last4, str) and len(last4) == 4 and last4.isdigit() else card.last4,
        "exp_month": month,
        "exp_year": year,
    }
    before = {field: getattr(card, field) for field in FIELDS}
    changes = {"updated_at": at, **after}
    renewed = (before["last4"], before["exp_month"], before["exp_year"]) != (
        after["last4"], after["exp_month"], after["exp_year"]
    )  # fmt: skip
    unblocked = renewed and (card.retry_blocked_until is not None or card.blocked_code)
    if renewed:
        changes |= {"retry_blocked_until": None, "blocked_code": ""}
    Card.objects.filter(pk=card.pk).update(**changes)
    if before == after and not unblocked:
        return f"card {card.pk} unchanged"
    if unblocked:
        before |= {"retry_blocked_until": card.retry_blocked_until, "blocked_code": card.blocked_code}
        after |= {"retry_blocked_until": None, "blocked_code": ""}
    audit_record(actor=actor, action="card.processor_update", target=card, before=before, after=after)
    return f"card {card.pk} updated" + (" and its decline block lifted" if unblocked else "")


def _expiry_usable(exp_month, exp_year) -> bool:
    return (
        isinstance(exp_month, int) and isinstance(exp_year, int) and 1 <= exp_month <= 12 and 2000 <= exp_year <= 9999
    )


def event_time(created: int | None) -> datetime.datetime:
    """An event's ``created`` (unix seconds) as an aware datetime; now when absent."""
    if created is None:
        return timezone.now()
    return datetime.datetime.fromtimestamp(int(created), tz=datetime.UTC)
