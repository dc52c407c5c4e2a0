"""CSRF on the API. A browser signed in to the panels carries its session
cookie to /api/ too, so DRF's SessionAuthentication must refuse an unsafe
request without the CSRF token (a page on another site could otherwise
renew, top up or flip switches through the API); a request authenticated
with a token carries no ambient credential and needs none.

Every unsafe method of every API view is listed in UNSAFE, so a new one
fails this suite until it has a row."""

import pytest
from django.conf import settings
from django.urls import reverse
from rest_framework.test import APIClient

from logins.services import token_issue
from notifications.models import Notice, NoticeKind
from payments.models import Card
from tests.panels.test_csrf import OUTSIDE, portal, routes, state, stripe_calls  # noqa: F401 - shared fixtures

pytestmark = pytest.mark.django_db

UNSAFE_METHODS = ("post", "put", "patch", "delete")


def _renewal(t):
    return {"items": [{"order": t.orders["o1"].pk, "months": 1}], "payment": "balance"}


# (URL name, method) -> (login, body, the status it answers when it goes through).
UNSAFE = {
    ("api-customer-auto-renew-allowed", "put"): ("acme", lambda t: {"allowed": False}, 200),
    ("api-order", "patch"): ("owner", lambda t: {"auto_renew": False}, 200),
    ("api-balance", "patch"): ("owner", lambda t: {"auto_renew": False}, 200),
    ("api-balance-top-up", "post"): ("owner", lambda t: {"amount": "20.00"}, 201),
    ("api-card", "delete"): ("owner", None, 204),
    ("api-card-default", "post"): ("owner", None, 200),
    ("api-calendar-rotate", "post"): ("owner", None, 200),
    ("api-message-read", "post"): ("owner", None, 200),
    ("api-quotes", "post"): ("owner", _renewal, 200),
    ("api-renewals", "post"): ("owner", _renewal, 201),
    ("api-token-revoke", "delete"): ("owner", None, 204),
    ("api-webhook-endpoints", "post"): (
        "acme",
        lambda t: {"url": "https://hooks.example.com/csrf", "events": ["order.renewed"]},
        201,
    ),
    ("api-webhook-endpoint", "patch"): ("acme", lambda t: {"events": ["balance.low"]}, 200),
    ("api-webhook-endpoint", "delete"): ("acme", None, 204),
    ("api-webhook-endpoint-rotate-secret", "post"): ("acme", None, 200),
    ("api-webhook-delivery-redeliver", "post"): ("acme", None, 202),
}
# Views that authenticate nobody (no session, no token), so there is no
# ambient credential for a forged request to ride on.
NO_AUTHENTICATION = {"api-token": "credentials in the body: the answer (the key) goes to the caller only"}


def api_routes():
    return [(route, name, view) for route, name, view in routes() if route.startswith("api/")]


def url_of(t, name: str) -> str:
    """The URL with real ids of c1 (the owner's customer): a forged request
    aimed at real rows."""
    ids = {
        "customer_id": t.customers["c1"].pk,
        "order_id": t.orders["o1"].pk,
        "card_id": Card.objects.get(stripe_payment_method_id="pm_csrf_2").pk,
        "notice_id": notice(t).pk,
        "endpoint_id": webhook_delivery(t).endpoint_id,
        "delivery_id": webhook_delivery(t).pk,
    }
    route = next(route for route, n, _ in api_routes() if n == name)
    return reverse(name, kwargs={key: value for key, value in ids.items() if f"<int:{key}>" in route})


def notice(t) -> Notice:
    """A message of c1's, delivered and unread."""
    c1 = t.customers["c1"]
    found = Notice.objects.filter(customer=c1).first()
    return found or Notice.objects.create(
        kind=NoticeKind.RENEWAL_SUCCEEDED,
        customer=c1,
        reseller=c1.reseller,
        recipient=c1.email,
        subject_key="batch:csrf",
        business_date=t.today,
        subject="Renewed",  # as delivered: shown as sent, not rendered from an invoice
        body_text="Renewed.",
        body_html="<p>Renewed.</p>",
    )


def webhook_delivery(t):
    """A delivery to an endpoint of acme (c1's reseller)."""
    from tests.webhooks.conftest import staff
    from webhooks.models import Delivery
    from webhooks.services import EventSpec, endpoint_create, events_emit

    found = Delivery.objects.filter(endpoint__reseller=t.resellers["acme"]).first()
    if found is None:
        endpoint_create(actor=staff(t.resellers["acme"]), url="https://hooks.example.com/a", events=["order.renewed"])
        c1 = t.customers["c1"]
        events_emit([EventSpec("order.renewed", "csrf", c1.reseller_id, c1.pk, {})])
        found = Delivery.objects.get(endpoint__reseller=t.resellers["acme"])
    return found


def send(client: APIClient, t, name: str, method: str, **headers):
    _login, body, _status = UNSAFE[(name, method)]
    data = body(t) if body else None
    return getattr(client, method)(url_of(t, name), data, format="json", **headers)


def session_client(t, username: str) -> APIClient:
    """A browser signed in to the panels, its CSRF cookie set by a panel page."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(t.users[username])
    assert client.get(reverse("reseller-customers" if username == "acme" else "orders")).status_code == 200
    assert client.cookies["csrftoken"].value
    return client


def idempotency(name: str) -> dict:
    return {"HTTP_IDEMPOTENCY_KEY": f"csrf-{name}"}


@pytest.fixture
def api_portal(portal):  # noqa: F811
    token_issue(user=portal.users["owner"])  # for the revoke
    notice(portal)
    return portal


def test_every_unsafe_api_method_is_listed():
    found, unauthenticated = set(), set()
    for _route, name, view in api_routes():
        view_class = getattr(view, "view_class", None)
        methods = {m for m in UNSAFE_METHODS if view_class is not None and hasattr(view_class, m)}
        if methods and view_class.authentication_classes == []:
            unauthenticated.add(name)
            continue
        found.update((name, method) for method in methods)
    assert sorted(found) == sorted(UNSAFE)
    assert unauthenticated == set(NO_AUTHENTICATION)
    # The API keeps the session for the panels' pages (and so needs this file).
    assert (
        "rest_framework.authentication.SessionAuthentication"
        in settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]
    )
    assert all(route.startswith(OUTSIDE) for route, _, _ in api_routes())


@pytest.mark.parametrize(("name", "method"), sorted(UNSAFE), ids=[f"{m.upper()} {n}" for n, m in sorted(UNSAFE)])
def test_a_session_needs_the_csrf_token_on_an_unsafe_request(api_portal, stripe_calls, name, method):  # noqa: F811
    # given: a browser signed in to the panels (session cookie, CSRF cookie)
    login, _body, ok = UNSAFE[(name, method)]
    client = session_client(api_portal, login)
    before = state()

    # when: another site makes it send the request, without the token
    response = send(client, api_portal, name, method, **idempotency(name))

    # then: refused before the view: nothing changed, Stripe not asked
    assert response.status_code == 403, response.status_code
    assert "CSRF" in response.json()["error"]["message"]
    assert state() == before
    assert stripe_calls == []

    # and the control: with the token (as the cookie's value in X-CSRFToken) it goes through
    token = client.cookies["csrftoken"].value
    response = send(client, api_portal, name, method, HTTP_X_CSRFTOKEN=token, **idempotency(name))
    assert response.status_code == ok, (response.status_code, response.content)


@pytest.mark.parametrize(("name", "method"), sorted(UNSAFE), ids=[f"{m.upper()} {n}" for n, m in sorted(UNSAFE)])
def test_a_token_needs_no_csrf_token(api_portal, stripe_calls, name, method):  # noqa: F811
    # given: a client with an API token and no cookie at all (a script, not a browser)
    login, _body, ok = UNSAFE[(name, method)]
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=api_portal.users[login])}")

    # when / then: the request goes through without any CSRF token
    response = send(client, api_portal, name, method, **idempotency(name))
    assert response.status_code == ok, (response.status_code, response.content)
    assert "csrftoken" not in client.cookies
