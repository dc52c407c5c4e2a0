"""The calendar card: the customer's settings page and the shared calendar
page show the login's feed URL; "Reset the link" replaces it (the CSRF
check of the form: tests/panels/test_csrf.py)."""

import re

import pytest
from django.test import Client

from calendars.models import Feed
from tests.calendars.conftest import fetch
from tests.factories import UserFactory


def shown_url(response) -> str:
    match = re.search(r'id="calendar-url" value="([^"]+)"', response.content.decode())
    assert match, "the page shows the calendar link"
    return match.group(1)


def signed_in(tenants, username: str) -> Client:
    client = Client()
    client.force_login(tenants.users[username])
    return client


def test_the_customers_settings_page_shows_the_feed_url(tenants):
    page = signed_in(tenants, "owner").get("/settings/")
    assert page.status_code == 200
    url = shown_url(page)
    assert fetch(url).status_code == 200
    assert "Reset the link" in page.content.decode()


@pytest.mark.parametrize("username", ["owner", "acme"])
def test_the_reset_button_rotates_the_link(tenants, username):
    client = signed_in(tenants, username)
    old = shown_url(client.get("/account/calendar/"))

    response = client.post("/account/calendar/", {"next": "/account/calendar/"}, follow=True)

    assert response.status_code == 200
    new = shown_url(response)
    assert new != old
    assert "The calendar link was reset" in response.content.decode()
    assert fetch(old).status_code == 404
    assert fetch(new).status_code == 200


def test_the_reset_from_the_settings_page_goes_back_to_it(tenants):
    client = signed_in(tenants, "owner")
    old = shown_url(client.get("/settings/"))
    response = client.post("/account/calendar/", {"next": "/settings/"})
    assert response.status_code == 302
    assert response["Location"] == "/settings/"
    assert shown_url(client.get("/settings/")) != old


def test_the_calendar_page_is_for_customer_and_reseller_logins(tenants):
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    assert client.get("/account/calendar/").status_code == 404
    assert client.post("/account/calendar/").status_code == 404
    assert not Feed.objects.exists()
    assert Client().get("/account/calendar/").status_code == 302  # to sign in


def test_the_resellers_home_shows_its_subtree_feed_url(tenants):
    page = signed_in(tenants, "acme").get("/reseller/")
    assert page.status_code == 200
    assert "your customers' orders expiring in the next 90 days" in page.content.decode()
    url = shown_url(page)
    assert Feed.objects.get(reseller=tenants.resellers["acme"]).secret in url
    assert fetch(url).status_code == 200
