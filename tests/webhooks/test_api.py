"""The webhook endpoints' API: resellers only (customers 403), an endpoint is
its reseller's alone (others 404), bad input names its field and changes
nothing."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api.conftest import api  # noqa: F401 - the fixture
from tests.factories import member
from tests.panels.conftest import tenants  # noqa: F401 - the fixture
from tests.webhooks.conftest import staff
from webhooks.models import Delivery, DeliveryState, Endpoint
from webhooks.services import EventSpec, endpoint_create, events_emit

URL = "https://hooks.example.com/portal"


@pytest.fixture
def west_endpoint(tenants):  # noqa: F811
    endpoint = endpoint_create(actor=staff(tenants.resellers["west"]), url=URL, events=["order.renewed"])
    c2 = tenants.customers["c2"]
    events_emit([EventSpec("order.renewed", "k1", c2.reseller_id, c2.pk, {"order": {"ref": "o4"}})])
    return endpoint


def test_a_reseller_registers_an_endpoint_and_gets_its_secret(api):  # noqa: F811
    response = api("acme").post(
        "/api/webhook-endpoints/", {"url": URL, "events": ["order.renewed", "invoice.created"]}, format="json"
    )
    assert response.status_code == 201, response.content
    endpoint = Endpoint.objects.get()
    assert response.json()["id"] == endpoint.pk
    assert response.json()["secret"] == endpoint.secret
    assert response.json()["events"] == ["order.renewed", "invoice.created"]
    listed = api("acme").get("/api/webhook-endpoints/").json()
    assert [e["id"] for e in listed] == [endpoint.pk]
    assert "secret" not in listed[0]


def test_a_customer_may_not(api):  # noqa: F811
    response = api("owner").post("/api/webhook-endpoints/", {"url": URL, "events": ["order.renewed"]}, format="json")
    assert response.status_code == 403
    assert api("owner").get("/api/webhook-endpoints/").status_code == 403
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://hooks.example.com/", "events": ["order.renewed"]}, "url"),
        ({"url": "https://192.168.1.4/", "events": ["order.renewed"]}, "url"),
        ({"url": URL, "events": []}, "events"),
        ({"url": URL, "events": ["order.exploded"]}, "events[0]"),
        ({"events": ["order.renewed"]}, "url"),
    ],
)
def test_bad_input_names_its_field_and_creates_nothing(api, body, field):  # noqa: F811
    response = api("acme").post("/api/webhook-endpoints/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(("username", "sees"), [("west", True), ("west2", True), ("acme", False), ("other", False)])
def test_an_endpoint_is_its_resellers_alone(api, tenants, west_endpoint, username, sees):  # noqa: F811
    if username == "west2":
        tenants.users["west2"] = member(reseller=tenants.resellers["west"], username="west2")
    client = api(username)
    base = f"/api/webhook-endpoints/{west_endpoint.pk}/"
    expected = 200 if sees else 404
    assert client.get(base).status_code == expected
    assert client.get(base + "secret/").status_code == expected
    assert client.get(base + "deliveries/").status_code == expected
    assert client.patch(base, {"events": ["balance.low"]}, format="json").status_code == expected
    assert Endpoint.objects.get().events == (["balance.low"] if sees else ["order.renewed"])
    delivery = Delivery.objects.get()
    Delivery.objects.update(state=DeliveryState.DELIVERED)
    assert client.post(f"/api/webhook-deliveries/{delivery.pk}/redeliver/").status_code == (202 if sees else 404)
    assert Delivery.objects.get().state == (DeliveryState.PENDING if sees else DeliveryState.DELIVERED)
    assert client.delete(base).status_code == (204 if sees else 404)
    assert Endpoint.objects.exists() != sees


def test_deliveries_are_listed_newest_first_with_a_fixed_number_of_queries(api, tenants, west_endpoint):  # noqa: F811
    c2 = tenants.customers["c2"]
    client = api("west")
    url = f"/api/webhook-endpoints/{west_endpoint.pk}/deliveries/"
    counts = []
    for n in (2, 20):
        events_emit(
            [EventSpec("order.renewed", f"k{n}-{i}", c2.reseller_id, c2.pk, {"order": {"ref": "o4"}}) for i in range(n)]
        )
        with CaptureQueriesContext(connection) as queries:
            body = client.get(url).json()
        counts.append(len(queries))
    assert counts[0] == counts[1]
    ids = [d["id"] for d in body["results"]]
    assert ids == sorted(ids, reverse=True)
    first = body["results"][-1] if body["count"] <= len(ids) else None
    assert body["count"] == 23
    assert first is None or first["event"]["type"] == "order.renewed"


def test_patch_disables_and_enables_and_rotating_changes_the_secret(api, west_endpoint):  # noqa: F811
    client = api("west")
    base = f"/api/webhook-endpoints/{west_endpoint.pk}/"
    assert client.patch(base, {"enabled": False}, format="json").json()["enabled"] is False
    assert client.patch(base, {"enabled": True}, format="json").json()["enabled"] is True
    rotated = client.post(base + "rotate-secret/").json()["secret"]
    assert rotated != west_endpoint.secret
    assert client.get(base + "secret/").json()["secret"] == rotated
    bad = client.patch(base, {"url": "ftp://x.example/"}, format="json")
    assert bad.status_code == 400
    assert "url" in bad.json()["error"]["fields"]


def test_the_admin_lists_and_redelivers_without_showing_a_secret(admin_client, west_endpoint):
    delivery = Delivery.objects.get()
    Delivery.objects.update(state=DeliveryState.DEAD)
    for model in ("endpoint", "event", "delivery"):
        page = admin_client.get(f"/admin/webhooks/{model}/")
        assert page.status_code == 200
        assert west_endpoint.secret not in page.content.decode()
    detail = admin_client.get(f"/admin/webhooks/endpoint/{west_endpoint.pk}/change/")
    assert detail.status_code == 200
    assert west_endpoint.secret not in detail.content.decode()
    admin_client.post("/admin/webhooks/delivery/", {"action": "redeliver", "_selected_action": [delivery.pk]})
    assert Delivery.objects.get().state == DeliveryState.PENDING
