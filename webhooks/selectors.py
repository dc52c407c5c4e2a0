"""Every read of the webhooks for a view, the API or a task: always from the
acting reseller's own endpoints (an endpoint is its reseller's alone; a
parent reseller does not see its sub-resellers' endpoints)."""

from django.db.models import QuerySet

from core.errors import NotFound
from tenants.scope import Actor, ActorKind
from webhooks.models import FAILING_REASON, Delivery, Endpoint


def endpoints_of(*, actor: Actor) -> QuerySet[Endpoint]:
    """The actor's reseller's endpoints (none for anyone else), oldest first."""
    if actor.kind != ActorKind.RESELLER or not actor.reseller_id:
        return Endpoint.objects.none()
    return Endpoint.objects.filter(reseller_id=actor.reseller_id).order_by("pk")


def endpoint_detail(*, actor: Actor, endpoint_id) -> Endpoint:
    endpoint = endpoints_of(actor=actor).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return endpoint


def deliveries_of(*, actor: Actor, endpoint_id) -> QuerySet[Delivery]:
    """An endpoint's deliveries with their events, newest first (one query a
    page: the index on (endpoint, -id))."""
    endpoint = endpoint_detail(actor=actor, endpoint_id=endpoint_id)
    return Delivery.objects.filter(endpoint=endpoint).select_related("event").order_by("-pk")


def disabled_endpoints(*, actor: Actor) -> list[Endpoint]:
    """The endpoints disabled for failing: the banner of the Webhooks page."""
    return list(endpoints_of(actor=actor).filter(enabled=False, disabled_reason=FAILING_REASON))
