"""A form's "next" (the page to go back to) is followed only to a path of this
site: anything a browser would take elsewhere goes to the form's own page."""

import pytest
from django.urls import reverse

HOSTILE = [
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https://evil.example",
    "http://testserver@evil.example/",
    "/%09/evil.example",
    "/\t/evil.example",
    "/\x00/orders/",
    "javascript:alert(1)",
    "evil.example",
    "",
]


@pytest.fixture
def owner(client, tenants):
    client.force_login(tenants.users["owner"])
    return client


@pytest.fixture
def acme(client, tenants):
    client.force_login(tenants.users["acme"])
    return client


@pytest.mark.parametrize("target", HOSTILE)
def test_the_customers_settings_form_refuses_a_next_off_the_site(owner, target):
    response = owner.post(reverse("settings"), {"auto_renew": "on", "next": target})

    assert response.status_code == 302
    assert response.headers["Location"] == reverse("settings")


@pytest.mark.parametrize("target", HOSTILE)
def test_the_resellers_customer_form_refuses_a_next_off_the_site(acme, tenants, target):
    page = reverse("reseller-customer", args=[tenants.customers["c1"].pk])

    response = acme.post(page, {"action": "allow", "next": target})

    assert response.status_code == 302
    assert response.headers["Location"] == page


@pytest.mark.parametrize("target", ["/orders/?page=2&sort=-paid_thru", "/reseller/customers/1/?q=a%2Fb"])
def test_a_path_of_this_site_is_followed(owner, target):
    response = owner.post(reverse("settings"), {"auto_renew": "on", "next": target})

    assert response.status_code == 302
    assert response.headers["Location"] == target
