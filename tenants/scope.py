"""Who is acting, and what they may see.

Tenancy is a tree: platform -> resellers -> sub-resellers -> customers. Every
selector takes an ``Actor`` and starts from ``Model.objects.visible_to(actor)``,
so a query that forgot the scope would have to skip the one entry point the
selectors use (tests/test_architecture.py checks that views never query models
directly).
"""

from dataclasses import dataclass

from django.db import models


class ActorKind(models.TextChoices):
    PLATFORM = "platform", "Platform admin"
    RESELLER = "reseller", "Reseller staff"
    CUSTOMER = "customer", "Customer"
    SYSTEM = "system", "System"
    NOBODY = "nobody", "Nobody"


@dataclass(frozen=True)
class Actor:
    kind: str
    label: str
    user: object | None = None
    reseller_id: int | None = None
    reseller_path: str | None = None
    customer_id: int | None = None

    @classmethod
    def system(cls, label: str = "system") -> "Actor":
        """The nightly run, an import, a management command: sees everything."""
        return cls(kind=ActorKind.SYSTEM, label=label)

    @property
    def sees_everything(self) -> bool:
        return self.kind in (ActorKind.PLATFORM, ActorKind.SYSTEM)


def actor_for_user(user) -> Actor:
    """The actor for a Django user: platform admin, reseller staff, customer or nobody."""
    if user is None or not user.is_authenticated:
        return Actor(kind=ActorKind.NOBODY, label="anonymous")
    membership = getattr(user, "membership", None)
    if membership is not None and membership.reseller_id is not None:
        return Actor(
            kind=ActorKind.RESELLER,
            label=user.get_username(),
            user=user,
            reseller_id=membership.reseller_id,
            reseller_path=membership.reseller.path,
        )
    if membership is not None and membership.customer_id is not None:
        return Actor(
            kind=ActorKind.CUSTOMER,
            label=user.get_username(),
            user=user,
            customer_id=membership.customer_id,
        )
    if user.is_superuser or user.is_staff:
        return Actor(kind=ActorKind.PLATFORM, label=user.get_username(), user=user)
    return Actor(kind=ActorKind.NOBODY, label=user.get_username(), user=user)


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
