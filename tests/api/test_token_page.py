"""The panels' API token page: a signed-in customer or reseller creates a
token (shown in full once), afterwards sees only that it exists (its dates and
non-secret prefix), and revokes it; an expired one can be replaced; every
change is a POST with the CSRF token; nobody reaches another login's token."""

import datetime
import re

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from knox.models import AuthToken as Token

from logins.services import token_issue

pytestmark = pytest.mark.django_db

URL = "/account/api-token/"


def signed_in(tenants, username: str, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(tenants.users[username])
    return client


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.mark.parametrize("username", ["owner", "acme"])
def test_create_once_in_full_then_only_its_dates_then_revoke(tenants, username):
    client = signed_in(tenants, username)
    user = tenants.users[username]
    assert "You have no API token." in html(client.get(URL))

    created = client.post(URL, {"action": "create"})
    page = html(created)
    key = re.search(r'<code id="api-token">([0-9a-f]+)</code>', page).group(1)  # in full, in this answer only
    token = Token.objects.get(user=user)
    assert token.token_key == key[:15]
    assert "Copy it now: it will not be shown again." in page  # the messages framework
    assert created["Cache-Control"].startswith("max-age=0")  # never kept by a browser or a proxy
    assert Client().get("/api/orders/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200

    later = html(client.get(URL))
    assert key not in later
    assert "You have an API token." in later
    assert f'<code id="api-token-prefix">{token.token_key}…</code>' in later
    assert "(not secret: only to recognise it)" in later
    assert f"{token.created:%Y-%m-%d}" in later
    assert f"{token.expiry:%Y-%m-%d}" in later
    assert token.digest not in later

    again = client.post(URL, {"action": "create"}, follow=True)  # a reload of the POST, say
    assert key not in html(again)
    assert "You already have an API token." in html(again)
    assert Token.objects.get(user=user).digest == token.digest

    revoked = html(client.post(URL, {"action": "revoke"}, follow=True))
    assert "Your API token was revoked" in revoked
    assert "You have no API token." in revoked
    assert not Token.objects.filter(user=user).exists()
    assert "You had no API token: nothing changed." in html(client.post(URL, {"action": "revoke"}, follow=True))


def test_an_expired_token_is_shown_as_such_and_replaced(tenants, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": datetime.timedelta(days=90)}
    with time_machine.travel(datetime.datetime(2026, 1, 1, 12, tzinfo=datetime.UTC)):
        old_key = token_issue(user=tenants.users["owner"])
    client = signed_in(tenants, "owner")
    with time_machine.travel(datetime.datetime(2026, 4, 2, 12, tzinfo=datetime.UTC)):  # past the 90 days
        page = html(client.get(URL))
        assert "Your API token expired on 2026-04-01 12:00" in page
        assert 'value="create"' in page
        new_page = html(client.post(URL, {"action": "create"}))
        new_key = re.search(r'<code id="api-token">([0-9a-f]+)</code>', new_page).group(1)
        assert Client().get("/api/orders/", HTTP_AUTHORIZATION=f"Token {new_key}").status_code == 200
        assert Client().get("/api/orders/", HTTP_AUTHORIZATION=f"Token {old_key}").status_code == 401
    assert Token.objects.filter(user=tenants.users["owner"]).count() == 1


def test_the_revoked_token_no_longer_opens_the_api(tenants):
    key = token_issue(user=tenants.users["acme"])
    signed_in(tenants, "acme").post(URL, {"action": "revoke"})
    response = Client().get("/api/customers/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 401


def test_each_login_acts_on_its_own_token_only(tenants):
    owners = token_issue(user=tenants.users["owner"])
    page = html(signed_in(tenants, "colleague").get(URL))  # same customer, another login
    assert "You have no API token." in page
    assert owners[:15] not in page
    signed_in(tenants, "outsider").post(URL, {"action": "revoke"})
    signed_in(tenants, "colleague").post(URL, {"action": "revoke"})
    assert Token.objects.get(user=tenants.users["owner"]).token_key == owners[:15]


def test_changes_need_the_csrf_token(tenants):
    client = signed_in(tenants, "owner", enforce_csrf_checks=True)
    assert client.post(URL, {"action": "create"}).status_code == 403
    assert not Token.objects.exists()
    page = html(client.get(URL))
    csrf = client.cookies["csrftoken"].value
    assert 'name="csrfmiddlewaretoken"' in page
    assert client.post(URL, {"action": "create", "csrfmiddlewaretoken": csrf}).status_code == 200
    assert Token.objects.filter(user=tenants.users["owner"]).exists()


def test_an_unknown_action_changes_nothing(tenants):
    response = signed_in(tenants, "owner").post(URL, {"action": "rotate"}, follow=True)
    assert "That action is not known here: nothing changed." in html(response)
    assert not Token.objects.exists()


def test_anonymous_signs_in_and_logins_without_a_panel_get_404(tenants):
    response = Client().get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    staff = get_user_model().objects.create_user("admin", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get(URL).status_code == 404
    assert client.post(URL, {"action": "create"}).status_code == 404
    assert not Token.objects.exists()
