"""GET /api/calendar/ and POST /api/calendar/rotate/: each login's own feed
URL (a customer's account, a reseller's subtree), replaced on request and
audited; nothing without credentials."""

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEvent
from calendars.models import Feed
from tests.calendars.conftest import events, fetch
from tests.factories import UserFactory


@pytest.mark.parametrize("username", ["owner", "acme"])
def test_get_answers_the_logins_feed_url_and_the_same_one_again(tenants, api, username):
    client = api(username)
    first = client.get("/api/calendar/")
    assert first.status_code == 200
    url = first.json()["url"]
    assert url.startswith("http://127.0.0.1:8000/calendar/")
    assert url.endswith(".ics")
    assert client.get("/api/calendar/").json()["url"] == url
    assert first.json()["rotated_at"] is None
    assert fetch(url).status_code == 200


def test_a_colleague_reads_the_same_customers_feed_and_a_reseller_its_own(tenants, api):
    owner = api("owner").get("/api/calendar/").json()["url"]
    assert api("colleague").get("/api/calendar/").json()["url"] == owner
    acme = api("acme").get("/api/calendar/").json()["url"]
    outsider = api("outsider").get("/api/calendar/").json()["url"]
    assert len({owner, acme, outsider}) == 3
    # the outsider's feed is its own customer's: none of c1's orders
    assert str(tenants.orders["o1"].pk) not in {key.split("-")[1] for key in events(fetch(outsider))}
    assert Feed.objects.count() == 3


@pytest.mark.parametrize("username", ["owner", "acme"])
def test_rotate_answers_a_new_url_and_the_old_one_answers_404(tenants, api, username):
    client = api(username)
    old = client.get("/api/calendar/").json()["url"]

    rotated = client.post("/api/calendar/rotate/")

    assert rotated.status_code == 200
    new = rotated.json()["url"]
    assert new != old
    assert rotated.json()["rotated_at"] is not None
    assert client.get("/api/calendar/").json()["url"] == new
    assert fetch(old).status_code == 404
    assert fetch(new).status_code == 200
    # audited, without the secrets themselves
    record = AuditEvent.objects.get(action="calendar.feed_rotate")
    assert record.actor_label == username
    assert record.before["secret"] == old.rsplit("/", 1)[1][:6] + "…"
    assert record.after["secret"] == new.rsplit("/", 1)[1][:6] + "…"


def test_without_credentials_both_answer_401(tenants):
    client = APIClient()
    assert client.get("/api/calendar/").status_code == 401
    assert client.post("/api/calendar/rotate/").status_code == 401
    assert not Feed.objects.exists()


def test_a_platform_admin_has_no_calendar(tenants):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = APIClient()
    client.force_authenticate(admin)
    assert client.get("/api/calendar/").status_code == 403
    assert client.post("/api/calendar/rotate/").status_code == 403
    assert not Feed.objects.exists()
