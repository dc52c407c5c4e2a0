from payments.models import Card
from tenants.scope import Actor


def cards_of(*, actor: Actor) -> list[Card]:
    """The acting customer's saved cards, the default first."""
    return list(Card.objects.visible_to(actor).order_by("-is_default", "pk"))
