"""What an actor may see.

Tenancy is a tree: platform -> resellers -> sub-resellers -> customers. Every
selector takes an ``Actor`` and starts from ``Model.objects.visible_to(actor)``,
so a query that forgot the scope would have to skip the one entry point the
selectors use (tests/test_architecture.py checks that views never query models
directly).
"""

from django.db import models

# Who is acting lives at the bottom of the layers (core.actors); it is named
# here too because every selector takes one with its scope.
from core.actors import Actor, ActorKind, actor_for_user

__all__ = ["Actor", "ActorKind", "TenantQuerySet", "actor_for_user"]


class TenantQuerySet(models.QuerySet):
    """A queryset that knows the way from its model to the owning customer.

    Models set ``tenant_customer_lookup``: "" for Customer itself, "customer__"
    for a model with a ``customer`` foreign key, and so on.
    """

    def visible_to(self, actor: Actor) -> "TenantQuerySet":
        lookup = self.model.tenant_customer_lookup
        if actor.sees_everything:
            return self.all()
        if actor.kind == ActorKind.RESELLER and actor.reseller_path:
            return self.filter(**{f"{lookup}reseller__path__startswith": actor.reseller_path})
        if actor.kind == ActorKind.CUSTOMER and actor.customer_id:
            return self.filter(**{f"{lookup}pk": actor.customer_id})
        return self.none()
