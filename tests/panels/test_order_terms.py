"""An order's renewal terms in the panels (SPEC "Per-order settings"): the
reseller sets an order's own auto-renew point and individual price on its
customer's page; the customer sees the price the order renews at and when
its automatic renewal starts, and cannot change them."""

from decimal import Decimal

import pytest
from django.urls import reverse

from orders.models import Order

pytestmark = pytest.mark.django_db


def customer_page(tenants, ref="c1"):
    return reverse("reseller-customer", args=[tenants.customers[ref].pk])


def post_terms(client, tenants, ref="o1", customer="c1", **fields):
    order = tenants.orders[ref]
    data = {"action": "terms", "order": order.pk, "ref": ref, "lead_days": "", "individual_price": "",
            "after_renewal": "keep", **fields}  # fmt: skip
    return client.post(customer_page(tenants, customer), data, follow=True)


def terms_of(tenants, ref="o1"):
    order = Order.objects.get(pk=tenants.orders[ref].pk)
    return order.lead_days, order.individual_price, order.after_renewal


def test_the_reseller_sets_the_terms_and_the_customer_sees_them(client, tenants):
    client.force_login(tenants.users["acme"])
    page = client.get(customer_page(tenants)).content.decode()
    assert 'name="individual_price"' in page
    assert 'value="terms"' in page
    answer = post_terms(client, tenants, lead_days="3", individual_price="7.50", after_renewal="plan")
    assert answer.status_code == 200
    page = answer.content.decode()
    assert "Order o1: its renewal terms are saved." in page
    assert "renews 3 days before · individual price 7.50 USD, once" in page
    assert terms_of(tenants) == (3, Decimal("7.50"), "plan")
    # The customer: the price it renews at and its own auto-renew point, read-only.
    client.force_login(tenants.users["owner"])
    detail = client.get(reverse("order-detail", args=[tenants.orders["o1"].pk])).content.decode()
    assert "7.50 USD for 1 month" in detail
    assert "for the next renewal only: then the plan's price" in detail
    assert f"3 days before the paid-thru date ({tenants.days(2)})" in detail
    assert "set for this order by your provider" in detail
    assert "1 mo: 7.50" in detail  # the periods, priced as the quote prices them
    assert 'name="individual_price"' not in detail


def test_a_customer_sees_the_plan_s_price_and_point_without_terms(client, tenants):
    client.force_login(tenants.users["owner"])
    detail = client.get(reverse("order-detail", args=[tenants.orders["o2"].pk])).content.decode()
    assert "100.00 USD for 12 months" in detail
    assert f"30 days before the paid-thru date ({tenants.days(-10)})" in detail
    assert "set for this order by your provider" not in detail
    # A setting posted by hand is not one the customer can change.
    client.post(reverse("order-detail", args=[tenants.orders["o2"].pk]), {"field": "lead_days", "value": "3"})
    assert terms_of(tenants, "o2") == (None, None, "keep")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"lead_days": "28"}, "at most 27, not 28"),
        ({"individual_price": "7.505"}, "finer than USD&#x27;s minor unit"),
        ({"individual_price": "ten"}, "Individual price: Enter a number"),
        ({"lead_days": "-3"}, "Auto-renew point (days): Ensure this value is greater than or equal to 0"),
        ({"after_renewal": "forever"}, "After a renewal at that price: Select a valid choice"),
    ],
)
def test_bad_terms_say_what_and_change_nothing(client, tenants, fields, words):
    client.force_login(tenants.users["acme"])
    page = post_terms(client, tenants, **{"individual_price": "5.00", **fields}).content.decode()
    assert words in page
    assert terms_of(tenants) == (None, None, "keep")


def test_another_tenant_s_order_is_not_found(client, tenants):
    client.force_login(tenants.users["other"])
    assert post_terms(client, tenants, lead_days="3").status_code == 404
    # Its own customer's page, another tenant's order id: nothing changes.
    client.force_login(tenants.users["west"])
    answer = post_terms(client, tenants, customer="c2", lead_days="3")
    assert answer.status_code in (200, 404)
    assert terms_of(tenants) == (None, None, "keep")
    assert post_terms(client, tenants, ref="o4", customer="c2", lead_days="3").status_code == 200
    assert terms_of(tenants, "o4")[0] == 3
