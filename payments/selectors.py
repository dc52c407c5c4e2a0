from django.db.models import BooleanField, Case, Value, When
from django.utils import timezone

from payments.models import AttemptState, Card, PaymentAttempt
from payments.rules import decision_after, reconcile_delay
from tenants.scope import Actor


def cards_of(*, actor: Actor) -> list[Card]:
    """The acting customer's saved cards, the default first."""
    return list(Card.objects.visible_to(actor).order_by("-is_default", "pk"))


def attempts_awaiting_decision():
    """Card payment attempts nobody has settled, platform-wide (the operators'
    status page): pending or unknown for longer than the reconcile delay (a
    few minutes), oldest first; ``flagged`` when open longer than
    ``decision_after()`` (3 days: an operator decides, SPEC "Faults and bad
    data")."""
    now = timezone.now()
    flagged = When(created_at__lte=now - decision_after(), then=Value(True))
    return (
        PaymentAttempt.objects.filter(
            state__in=[AttemptState.PENDING, AttemptState.UNKNOWN], created_at__lte=now - reconcile_delay()
        )
        .annotate(flagged=Case(flagged, default=Value(False), output_field=BooleanField()))
        .order_by("created_at", "pk")
    )
