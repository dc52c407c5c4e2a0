"""The reseller's lock in the API (SPEC "Auto-renewal"): while an order's
switch is locked the customer can neither switch it nor set or clear
do-not-renew; the reseller still can; the account's master switch does not
apply to the order."""

import pytest

from audit.models import AuditEvent
from orders.models import Order
from tests.api.test_resources import error

pytestmark = pytest.mark.django_db


def flags(order) -> tuple:
    return tuple(
        Order.objects.filter(pk=order.pk).values_list(
            "auto_renew", "do_not_renew", "auto_renew_locked", "payment_source"
        )
    )[0]


@pytest.fixture
def locked_o1(tenants, api):
    o1 = tenants.orders["o1"]
    assert api("acme").patch(f"/api/orders/{o1.pk}/", {"auto_renew_locked": True}, format="json").status_code == 200
    return o1


@pytest.mark.parametrize("user", ["owner", "colleague"])
def test_a_customer_patch_setting_or_clearing_do_not_renew_of_a_locked_order_is_refused(locked_o1, api, user):
    client, url = api(user), f"/api/orders/{locked_o1.pk}/"
    audited = AuditEvent.objects.count()
    body = error(
        client.patch(url, {"do_not_renew": True, "payment_source": "card"}, format="json"), 403, "auto_renew_locked"
    )
    assert "your reseller locked" in body["message"]
    assert flags(locked_o1) == (True, False, True, "balance")  # nothing changed, not even payment_source
    assert AuditEvent.objects.count() == audited

    api("acme").patch(url, {"do_not_renew": True}, format="json")
    audited = AuditEvent.objects.count()
    error(client.patch(url, {"do_not_renew": False}, format="json"), 403, "auto_renew_locked")
    error(client.patch(url, {"auto_renew": False}, format="json"), 403, "auto_renew_locked")
    assert flags(locked_o1) == (True, True, True, "balance")
    assert AuditEvent.objects.count() == audited
    # The order as the customer reads it says why, and what to do.
    order = client.get(url).json()
    assert (order["do_not_renew"], order["auto_renew_locked"], order["reason"]) == (True, True, "do_not_renew")
    assert (
        order["what_to_do"] == "Your provider locked this order's renewal: ask them to change it, or renew it by hand."
    )


def test_an_outsider_gets_404_and_changes_nothing(locked_o1, api):
    error(
        api("outsider").patch(f"/api/orders/{locked_o1.pk}/", {"do_not_renew": True}, format="json"), 404, "not_found"
    )
    assert flags(locked_o1) == (True, False, True, "balance")


def test_the_reseller_still_changes_all_of_it(locked_o1, api):
    acme, url = api("acme"), f"/api/orders/{locked_o1.pk}/"
    for change in ({"do_not_renew": True}, {"do_not_renew": False, "auto_renew": False}, {"auto_renew": True}):
        response = acme.patch(url, change, format="json")
        assert response.status_code == 200, response.content
        assert {k: response.json()[k] for k in change} == change
    assert flags(locked_o1) == (True, False, True, "balance")
    # Another tenant's reseller does not see the order.
    error(api("other").patch(url, {"do_not_renew": True}, format="json"), 404, "not_found")


def test_the_master_switch_off_leaves_a_locked_order_renewing(locked_o1, tenants, api):
    owner = api("owner")
    assert owner.patch("/api/balance/", {"auto_renew": False}, format="json").status_code == 200
    orders = {row["ref"]: row for row in owner.get("/api/orders/").json()["results"]}
    assert (orders["o1"]["will_auto_renew"], orders["o1"]["reason"]) == (True, None)
    assert (orders["o2"]["will_auto_renew"], orders["o2"]["reason"]) == (False, "account_auto_renew_off")
    jane = next(row for row in api("acme").get("/api/sweep-preview/").json()["results"] if row["customer"] == "c1")
    assert [line["ref"] for line in jane["orders"]] == ["o1"]
    assert [(line["ref"], line["reason"]) for line in jane["skipped"]] == [("o2", "account_auto_renew_off")]
