"""The reseller's lock in the customer panel (SPEC "Auto-renewal"): the order
page shows auto-renew and do-not-renew read-only with why, a posted change
is refused and changes nothing, and the settings page says how many orders
the reseller keeps renewing whatever the master switch says."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders.models import Order
from orders.services import order_set_flags
from tenants.scope import actor_for_user

pytestmark = pytest.mark.django_db


def lock(tenants, *refs, **flags):
    acme = actor_for_user(tenants.users["acme"])
    for ref in refs:
        order_set_flags(actor=acme, order_id=tenants.orders[ref].pk, auto_renew_locked=True, **flags)


def state(order) -> tuple:
    return tuple(Order.objects.filter(pk=order.pk).values_list("auto_renew", "do_not_renew", "auto_renew_locked"))[0]


@pytest.mark.parametrize("user", ["owner", "colleague"])
def test_a_locked_orders_page_shows_its_renewal_read_only_and_refuses_a_posted_change(client, tenants, user):
    o1 = tenants.orders["o1"]
    lock(tenants, "o1")
    client.force_login(tenants.users[user])
    url = reverse("order-detail", args=[o1.pk])
    page = client.get(url).content.decode()
    assert 'id="toggle-auto-renew"' not in page
    assert 'id="toggle-do-not-renew"' not in page
    assert 'id="do-not-renew-locked"' in page
    assert "your account&#x27;s master switch does not apply to this order" in page

    for value in ("on", "off"):  # set, then (once the reseller set it) clear
        page = client.post(url, {"field": "do_not_renew", "value": value}, follow=True).content.decode()
        assert "your reseller locked its renewal (auto-renew and &#x27;do not renew&#x27;)" in page
        assert state(o1) == (True, value == "off", True)
        lock(tenants, "o1", do_not_renew=True)
    page = client.get(url).content.decode()
    assert "Your provider locked this order&#x27;s renewal: ask them to change it, or renew it by hand." in page


def test_an_outsider_gets_404_for_a_locked_order_and_changes_nothing(client, tenants):
    o1 = tenants.orders["o1"]
    lock(tenants, "o1")
    client.force_login(tenants.users["outsider"])
    url = reverse("order-detail", args=[o1.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"field": "do_not_renew", "value": "on"}).status_code == 404
    assert state(o1) == (True, False, True)


def test_the_settings_page_counts_the_orders_the_reseller_keeps_renewing(client, tenants):
    client.force_login(tenants.users["owner"])
    page = client.get(reverse("settings")).content.decode()
    assert 'id="locked-orders"' not in page  # nothing locked: nothing to say
    lock(tenants, "o1")
    page = client.get(reverse("settings")).content.decode()
    assert "1 order is locked by your provider: this switch does not apply to it." in page

    client.post(reverse("settings"), {"auto_renew": "off"})
    page = client.get(reverse("settings")).content.decode()
    assert "Your provider keeps 1 order renewing: 1 order is locked by your provider" in page
    # o3 (an SSL certificate, switched off) is locked but does not renew; o2 is locked and does.
    lock(tenants, "o2", "o3")
    with CaptureQueriesContext(connection) as three_locked:
        page = client.get(reverse("settings")).content.decode()
    assert "Your provider keeps 2 orders renewing: 3 orders are locked by your provider" in page
    client.post(reverse("settings"), {"auto_renew": "on"})
    page = client.get(reverse("settings")).content.decode()
    assert "3 orders are locked by your provider: this switch does not apply to them." in page

    # A fixed number of queries however many orders are locked.
    Order.objects.filter(pk__in=[tenants.orders["o2"].pk, tenants.orders["o3"].pk]).update(auto_renew_locked=False)
    client.post(reverse("settings"), {"auto_renew": "off"})
    with CaptureQueriesContext(connection) as one_locked:
        client.get(reverse("settings"))
    assert len(one_locked) == len(three_locked)
