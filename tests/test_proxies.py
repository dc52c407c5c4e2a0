"""Who the client is behind proxies (core.net.client_address, one helper for
the panels' sign-in throttle, the API's throttles and the audit log), and
HTTPS behind a TLS-terminating proxy (SECURE_PROXY_SSL_HEADER, the redirect,
HSTS)."""

import re
from types import SimpleNamespace

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from api.throttling import AnonThrottle, ByClientAddress, UserThrottle
from core.net import client_address
from tests.factories import UserFactory

CLIENT = "198.51.100.7"
PROXY = "10.0.0.2"
LOGIN = "/accounts/login/"


pytestmark = pytest.mark.usefixtures("fresh_cache")


# --- client_address ---


def meta(remote=CLIENT, forwarded=None):
    values = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        values["HTTP_X_FORWARDED_FOR"] = forwarded
    return SimpleNamespace(META=values)


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        # Nothing trusted: X-Forwarded-For is whatever the client wrote.
        (0, CLIENT, "203.0.113.1", CLIENT),
        (-1, CLIENT, "203.0.113.1", CLIENT),
        # One proxy: the entry it appended (the last); what the client sent before it is ignored.
        (1, PROXY, "203.0.113.1", "203.0.113.1"),
        (1, PROXY, "6.6.6.6, 203.0.113.1", "203.0.113.1"),
        (1, PROXY, "6.6.6.6,203.0.113.1 , ", "203.0.113.1"),
        # Two proxies: the outer one's entry, second from the right.
        (2, PROXY, "6.6.6.6, 203.0.113.1, 10.0.0.3", "203.0.113.1"),
        # A chain shorter than configured: the furthest entry any of ours wrote.
        (2, PROXY, "203.0.113.1", "203.0.113.1"),
        # Not through the proxies (a health check from inside): the peer.
        (1, PROXY, None, PROXY),
        (1, PROXY, " , ", PROXY),
        # Not an address where ours should be: counted as the peer, never as nobody.
        (1, PROXY, "unknown", PROXY),
        (1, PROXY, "203.0.113.1, <script>", PROXY),
        # Spellings proxies use, made one canonical text per client.
        (1, PROXY, "203.0.113.1:51234", "203.0.113.1"),
        (1, PROXY, "[2001:db8::1]:443", "2001:db8::1"),
        (1, PROXY, "2001:DB8:0:0::1", "2001:db8::1"),
        (1, PROXY, "::ffff:192.0.2.1", "192.0.2.1"),
        (1, PROXY, "fe80::1%eth0", "fe80::1"),
        (0, "2001:0db8::0001", None, "2001:db8::1"),
        # No valid peer address (a unix socket without a proxy).
        (0, "", None, None),
        (0, "not-an-address", "203.0.113.1", None),
    ],
)
def test_client_address(settings, proxies, remote, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    assert client_address(meta(remote, forwarded)) == expected


def test_no_request_has_no_address():
    assert client_address(None) is None


# --- The API's throttles ---


class Open(APIView):
    """Any API view: the project's default throttles, no credentials needed."""

    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"ok": True})


@pytest.fixture
def anon_limit(monkeypatch):
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "3/hour", "user": "1200/hour"})
    return 3


def call(remote, forwarded=None):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return Open.as_view()(APIRequestFactory().get("/api/x/", REMOTE_ADDR=remote, **extra)).status_code


def test_the_api_throttles_by_the_one_helper_with_the_same_scopes_and_rates(settings):
    assert Open.throttle_classes == [UserThrottle, AnonThrottle]
    assert (UserThrottle.scope, AnonThrottle.scope) == ("user", "anon")
    assert set(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]) == {"user", "anon"}
    assert "NUM_PROXIES" not in settings.REST_FRAMEWORK


def api_views():
    def walk(patterns):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns)
            elif isinstance(entry, URLPattern) and hasattr(entry.callback, "cls"):
                yield entry.callback.cls

    return list(walk(get_resolver().url_patterns))


def test_no_api_view_counts_callers_by_drfs_own_idea_of_the_address():
    views = api_views()
    assert views  # the walk found the API
    for view in views:
        for throttle in view.throttle_classes:
            assert throttle.get_ident is ByClientAddress.get_ident, f"{view.__name__} throttles by {throttle}"


def test_without_a_trusted_proxy_a_new_x_forwarded_for_each_call_does_not_escape_the_limit(anon_limit, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    # given: the limit spent, each call claiming another address
    for n in range(anon_limit):
        assert call(CLIENT, f"203.0.113.{n}") == 200

    # then: the real peer is refused whatever it claims next, or without a claim
    assert call(CLIENT, "203.0.113.200") == 429
    assert call(CLIENT) == 429
    # and: another peer is counted apart
    assert call("198.51.100.8", "203.0.113.0") == 200


def test_behind_one_trusted_proxy_each_client_is_counted_apart(anon_limit, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # given: client A's calls through the proxy spend A's limit
    for _ in range(anon_limit):
        assert call(PROXY, "203.0.113.1") == 200
    assert call(PROXY, "203.0.113.1") == 429

    # then: B through the same proxy is not held back by A
    assert call(PROXY, "203.0.113.2") == 200
    # and: A prepending an address of its own choosing is still A
    assert call(PROXY, "6.6.6.6, 203.0.113.1") == 429
    assert call(PROXY, "203.0.113.9,203.0.113.1") == 429


# --- The panels' sign-in lock by address ---


def sign_in(username, password, remote, forwarded=None):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return Client().post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=remote, **extra)


@pytest.fixture
def address_limit(settings, db):
    UserFactory(username="jane")  # password "pw"
    settings.LOGIN_FAILURE_LIMIT_ADDRESS = 3
    return 3


def test_without_a_trusted_proxy_the_sign_in_lock_holds_whatever_x_forwarded_for_says(address_limit, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    # given: the address's failures, each for another username and claiming another address
    for n in range(address_limit):
        assert sign_in(f"guess{n}", "wrong", CLIENT, f"203.0.113.{n}").status_code == 200

    # then: refused from that peer even with the right password and a fresh claim
    assert sign_in("jane", "pw", CLIENT, "203.0.113.99").status_code == 429
    # and: another peer signs in
    assert sign_in("jane", "pw", "198.51.100.8").status_code == 302


def test_behind_one_trusted_proxy_the_sign_in_lock_is_the_clients(address_limit, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for n in range(address_limit):
        assert sign_in(f"guess{n}", "wrong", PROXY, "203.0.113.1").status_code == 200

    # then: A is locked, even prepending another address
    assert sign_in("jane", "pw", PROXY, "203.0.113.1").status_code == 429
    assert sign_in("jane", "pw", PROXY, "6.6.6.6, 203.0.113.1").status_code == 429
    # and: B through the same proxy is not
    assert sign_in("jane", "pw", PROXY, "203.0.113.2").status_code == 302


# --- HTTPS behind a TLS-terminating proxy ---


@pytest.fixture
def behind_tls_proxy(settings):
    """The production settings' HTTPS part, with the proxy's header (README
    "Deploying behind a proxy"); the test settings turn the redirect off."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000


def test_plain_http_is_sent_to_https_except_the_health_checks(behind_tls_proxy, db):
    page = Client().get(LOGIN)
    assert (page.status_code, page["Location"]) == (301, f"https://testserver{LOGIN}")
    # The proxy saying it was https: served, with HSTS.
    served = Client().get(LOGIN, HTTP_X_FORWARDED_PROTO="https")
    assert served.status_code == 200
    assert served["Strict-Transport-Security"].startswith("max-age=31536000")
    # A container's health check over plain HTTP is answered, not redirected.
    assert Client().get(reverse("healthz-live")).status_code == 200
    assert Client().get(reverse("healthz")).status_code != 301


def test_the_password_reset_link_is_https_when_the_proxy_says_so(behind_tls_proxy, db, mailoutbox):
    UserFactory(username="jane", email="jane@example.test")

    # As the proxy forwards it: the Host the browser asked for, and the scheme.
    response = Client(HTTP_HOST="testserver", HTTP_X_FORWARDED_PROTO="https").post(
        reverse("password_reset"), {"email": "jane@example.test"}
    )

    assert response.status_code == 302
    [mail] = mailoutbox
    assert re.search(r"https://testserver/accounts/reset/\S+/", mail.body)
    assert "http://" not in mail.body
