"""The calendars' fixtures: the panels' three-tenant portal
(tests/panels/conftest.py), an API client per login, and a feed fetcher."""

import datetime
from urllib.parse import urlsplit

import pytest
from django.test import Client
from icalendar import Calendar
from rest_framework.test import APIClient

from calendars.selectors import feed_url
from calendars.services import feed_get_or_create
from logins.services import token_issue
from tenants.scope import actor_for_user
from tests.panels.conftest import Tenants, tenants  # noqa: F401 - the shared three-tenant portal


@pytest.fixture(autouse=True)
def _fresh_throttle(fresh_cache):
    """Each test counts its own fetches (calendars.throttle)."""


@pytest.fixture
def api(tenants):  # noqa: F811
    def client(username: str) -> APIClient:
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=tenants.users[username])}")
        return c

    return client


def url_of(tenants, username: str) -> str:  # noqa: F811
    return feed_url(feed_get_or_create(actor=actor_for_user(tenants.users[username])))


def fetch(url: str, **headers):
    """GET the feed as a calendar app does: no session, no cookie."""
    return Client().get(urlsplit(url).path, **headers)


def events(response) -> dict[str, dict]:
    """{UID: {"day", "summary", "description"}} of a feed, parsed back with icalendar."""
    calendar = Calendar.from_ical(response.content)
    found = {}
    for item in calendar.walk("VEVENT"):
        start = item.decoded("dtstart")
        assert not isinstance(start, datetime.datetime), "all-day events: a date, not a time"
        assert item.decoded("dtend") == start + datetime.timedelta(days=1)
        found[str(item["uid"])] = {
            "day": start,
            "summary": str(item["summary"]),
            "description": str(item["description"]),
        }
    return found


__all__ = ["Tenants"]
