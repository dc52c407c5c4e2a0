"""Who is acting: the actor every service and selector takes.

At the bottom of the layers so that anything may name an actor (core's own
services, the audited admin's building blocks) without importing the tenancy
app. Reading which tenant a login belongs to needs no import either: a login's
``membership`` (tenants.models.Membership) is reached as an attribute. The
scope (what an actor may see) is tenants.scope.
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
