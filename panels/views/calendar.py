"""The renewal calendar's page, shared by both panels (like the API token's):
the login's private feed URL to copy, and resetting it. The customer's
settings page shows the same card (``calendar_context``)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from calendars.selectors import feed_url
from calendars.services import feed_get_or_create, feed_rotate
from panels.views.common import back_to
from tenants.scope import Actor, ActorKind, actor_for_user


def calendar_context(request, actor: Actor) -> dict:
    """What the calendar card shows: the login's feed URL (the feed is made
    on the first look)."""
    feed = feed_get_or_create(actor=actor)
    return {"calendar_url": feed_url(feed, request), "calendar_reseller": actor.kind == ActorKind.RESELLER}


@login_required
@never_cache  # the page shows a credential
@require_http_methods(["GET", "POST"])
def calendar_page(request):
    actor = actor_for_user(request.user)
    if actor.kind not in (ActorKind.CUSTOMER, ActorKind.RESELLER):
        raise Http404("this page is for customer and reseller logins")
    if request.method == "POST":
        feed_rotate(actor=actor)
        messages.success(
            request, "The calendar link was reset: the old one no longer works. Subscribe again with the new one."
        )
        return back_to(request, "calendar-page")
    return render(request, "panels/calendar.html", calendar_context(request, actor))
