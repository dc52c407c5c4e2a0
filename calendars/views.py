"""The public feed: ``/calendar/<secret>.ics``. No sign-in, no session, no
CSRF token: a calendar app sends none of them, and the secret in the URL is
the credential (replaced from the panels or the API, the old URL answers
404)."""

import hashlib
from urllib.parse import urlsplit

from django.conf import settings
from django.http import Http404, HttpResponse
from django.utils.cache import get_conditional_response
from django.views.decorators.http import require_safe

from calendars import throttle
from calendars.ics import feed_ics
from calendars.selectors import feed_by_secret, feed_content
from core.net import client_address

# Calendar apps poll every few hours; a browser or proxy may keep a copy a
# little while, never a shared cache (the URL is a credential).
CACHE_CONTROL = "private, max-age=900"


@require_safe
def feed(request, secret: str):
    address = client_address(request) or "unknown"
    if throttle.misses_exceeded(address):
        return _too_many()
    found = feed_by_secret(secret)
    if found is None:
        throttle.miss_count(address)
        raise Http404("no such calendar (the link may have been reset)")
    if not throttle.fetch_allowed(secret):
        return _too_many()
    body = feed_ics(feed_content(feed=found, host=_uid_host(request)))
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["ETag"] = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    response["Cache-Control"] = CACHE_CONTROL
    response["Content-Disposition"] = 'inline; filename="renewals.ics"'
    # The URL is the credential: never sent on as a Referer, never indexed.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return get_conditional_response(request, etag=response["ETag"], response=response)


def _uid_host(request) -> str:
    """The host in the events' UIDs: the portal's own name (PORTAL_URL), so
    they stay the same whichever name the feed is fetched by."""
    return urlsplit(settings.PORTAL_URL).hostname or request.get_host().split(":")[0]


def _too_many() -> HttpResponse:
    response = HttpResponse(
        "Too many requests for this calendar: try again within the hour.",
        status=429,
        content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = str(throttle.WINDOW_SECONDS)
    return response
