"""The reseller panel's Webhooks page: an endpoint is its reseller's alone
(a colleague sees it, the reseller above and any other get 404), the secret
is shown at creation and on demand, deliveries are listed and redelivered."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import member
from tests.panels.conftest import tenants  # noqa: F401 - the fixture
from tests.webhooks.conftest import staff
from webhooks.models import FAILING_REASON, Delivery, DeliveryState, Endpoint
from webhooks.services import EventSpec, endpoint_create, events_emit

URL = "https://hooks.example.com/portal"


@pytest.fixture
def west_endpoint(tenants):  # noqa: F811
    """An endpoint of west (under acme) with one delivery of an event of c2."""
    endpoint = endpoint_create(actor=staff(tenants.resellers["west"]), url=URL, events=["order.renewed"])
    c2 = tenants.customers["c2"]
    events_emit([EventSpec("order.renewed", "k1", c2.reseller_id, c2.pk, {"order": {"ref": "o4"}})])
    return endpoint


def signed_in(client, tenants, username):  # noqa: F811
    client.force_login(tenants.users[username])
    return client


def test_creating_an_endpoint_shows_its_secret_once(client, tenants):  # noqa: F811
    signed_in(client, tenants, "acme")
    response = client.post(reverse("reseller-webhooks"), {"url": URL, "events": ["order.renewed", "balance.low"]})
    assert response.status_code == 200
    endpoint = Endpoint.objects.get()
    assert endpoint.reseller == tenants.resellers["acme"]
    assert endpoint.events == ["order.renewed", "balance.low"]
    assert endpoint.secret in response.content.decode()
    assert endpoint.secret not in client.get(reverse("reseller-webhooks")).content.decode()
    revealed = client.post(reverse("reseller-webhook", args=[endpoint.pk]), {"action": "reveal"})
    assert endpoint.secret in revealed.content.decode()


@pytest.mark.parametrize(
    ("url", "events", "says"),
    [
        ("http://hooks.example.com/x", ["order.renewed"], "must start with https://"),
        (URL, [], "choose one or more"),
        (URL, ["order.exploded"], "unknown order.exploded"),
    ],
)
def test_a_bad_endpoint_is_refused_saying_why_and_nothing_is_created(client, tenants, url, events, says):  # noqa: F811
    signed_in(client, tenants, "acme")
    response = client.post(reverse("reseller-webhooks"), {"url": url, "events": events}, follow=True)
    assert says in response.content.decode()
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(("username", "sees"), [("west", True), ("west2", True), ("acme", False), ("other", False)])
def test_an_endpoint_is_its_resellers_alone(client, tenants, west_endpoint, username, sees):  # noqa: F811
    tenants.users["west2"] = member(reseller=tenants.resellers["west"], username="west2")
    signed_in(client, tenants, username)
    page = client.get(reverse("reseller-webhook", args=[west_endpoint.pk]))
    assert page.status_code == (200 if sees else 404)
    assert (URL in client.get(reverse("reseller-webhooks")).content.decode()) == sees
    delivery = Delivery.objects.get()
    Delivery.objects.update(state=DeliveryState.DELIVERED)
    response = client.post(
        reverse("reseller-webhook", args=[west_endpoint.pk]), {"action": "redeliver", "delivery": delivery.pk}
    )
    assert response.status_code == (302 if sees else 404)
    assert Delivery.objects.get().state == (DeliveryState.PENDING if sees else DeliveryState.DELIVERED)
    response = client.post(reverse("reseller-webhook", args=[west_endpoint.pk]), {"action": "delete"})
    assert Endpoint.objects.exists() != sees


def test_a_customer_has_no_webhooks_page(client, tenants):  # noqa: F811
    signed_in(client, tenants, "owner")
    assert client.get(reverse("reseller-webhooks")).status_code == 404


def test_the_deliveries_page_has_a_fixed_number_of_queries(client, tenants, west_endpoint):  # noqa: F811
    signed_in(client, tenants, "west")
    c2 = tenants.customers["c2"]
    url = reverse("reseller-webhook", args=[west_endpoint.pk])
    counts = []
    for n in (2, 30):
        events_emit(
            [EventSpec("order.renewed", f"k{n}-{i}", c2.reseller_id, c2.pk, {"order": {"ref": "o4"}}) for i in range(n)]
        )
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_a_disabled_endpoint_shows_a_banner_and_enabling_it_again_works(client, tenants, west_endpoint):  # noqa: F811
    Endpoint.objects.update(enabled=False, disabled_reason=FAILING_REASON)
    signed_in(client, tenants, "west")
    page = client.get(reverse("reseller-webhooks")).content.decode()
    assert "every delivery to it failed for 3 days" in page
    client.post(reverse("reseller-webhook", args=[west_endpoint.pk]), {"action": "enable"})
    assert Endpoint.objects.get().enabled
    assert "every delivery to it failed" not in client.get(reverse("reseller-webhooks")).content.decode()


def test_editing_events_and_rotating_the_secret(client, tenants, west_endpoint):  # noqa: F811
    signed_in(client, tenants, "west")
    url = reverse("reseller-webhook", args=[west_endpoint.pk])
    client.post(url, {"action": "events", "events": ["balance.low", "order.suspended"]})
    assert Endpoint.objects.get().events == ["order.suspended", "balance.low"]
    response = client.post(url, {"action": "rotate"})
    endpoint = Endpoint.objects.get()
    assert endpoint.secret != west_endpoint.secret
    assert endpoint.secret in response.content.decode()
