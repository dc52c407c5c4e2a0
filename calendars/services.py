"""Writes of the calendar feeds: a feed is created the first time its owner
asks for its URL, and its secret replaced on request (the old URL then
answers 404). Both are audited: the secret is a credential."""

import secrets

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from calendars.models import Feed
from tenants.scope import Actor, ActorKind

# secrets.token_urlsafe(SECRET_BYTES): 256 bits, 43 characters in the URL.
SECRET_BYTES = 32
# How much of a secret the audit log keeps: enough to tell two apart, far
# too little to use (the API token's record keeps as much).
SHOWN_CHARS = 6


def feed_owner(actor: Actor) -> dict:
    """The owner of the acting login's feed, as Feed's filter: a customer
    login reads its customer's, a reseller staff login its reseller's."""
    if actor.kind == ActorKind.CUSTOMER and actor.customer_id:
        return {"customer_id": actor.customer_id}
    if actor.kind == ActorKind.RESELLER and actor.reseller_id:
        return {"reseller_id": actor.reseller_id}
    raise PermissionDenied("a renewal calendar belongs to a customer or a reseller login")


def _shown(secret: str) -> str:
    return secret[:SHOWN_CHARS] + "…"


def feed_get_or_create(*, actor: Actor) -> Feed:
    """The acting login's feed, created on its first call with a new secret.
    Two first calls at once create one feed: the owner is unique, and the
    loser of the race reads the winner's."""
    owner = feed_owner(actor)
    feed = Feed.objects.filter(**owner).first()
    if feed is not None:
        return feed
    try:
        with transaction.atomic():
            feed = Feed.objects.create(secret=secrets.token_urlsafe(SECRET_BYTES), **owner)
            audit_record(actor=actor, action="calendar.feed_create", target=feed, after={"secret": _shown(feed.secret)})
    except IntegrityError:
        return Feed.objects.get(**owner)
    return feed


def feed_rotate(*, actor: Actor) -> Feed:
    """Replace the acting login's feed secret (creating the feed when it has
    none): every copy of the old URL answers 404 from the commit on."""
    owner = feed_owner(actor)
    feed_get_or_create(actor=actor)
    with transaction.atomic():
        # Two rotations at once: the second replaces the first's secret, and
        # each records what it replaced.
        feed = Feed.objects.select_for_update().get(**owner)
        before = feed.secret
        feed.secret = secrets.token_urlsafe(SECRET_BYTES)
        feed.rotated_at = timezone.now()
        feed.save(update_fields=["secret", "rotated_at"])
        audit_record(
            actor=actor,
            action="calendar.feed_rotate",
            target=feed,
            before={"secret": _shown(before)},
            after={"secret": _shown(feed.secret)},
        )
    return feed
