"""The panels and the API show each amount with exactly its currency's places
(SPEC "Money"): whole yen, dinars with three, dollars with two; never the
three places the columns hold."""

import datetime

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from core.dates import business_today
from interchange.importer import portal_import
from logins.services import token_issue
from orders.models import Order
from renewals.manual import renewal_pay, renewal_quote
from renewals.rules import renewal_period
from tenants.models import Customer, Reseller
from tenants.scope import Actor, ActorKind
from tests.factories import member
from tests.renewals.conftest import order, portal_document

pytestmark = pytest.mark.django_db


@pytest.fixture
def shops(db):
    """A yen shop (customer ken) and a dinar shop (customer ali) under one
    reseller, with logins ``ken``, ``ali`` and the reseller's ``staff``."""
    today = business_today()
    soon = today + datetime.timedelta(days=3)
    portal_import(
        data=portal_document(
            [order("y1", soon, customer="ken", plan="yen"), order("d1", soon, customer="ali", plan="dinar")],
            plans=[
                {"ref": "yen", "name": "Yen", "category": "hosting", "currency": "JPY", "prices": {"1": "550"}},
                {"ref": "dinar", "name": "Dinar", "category": "hosting", "currency": "KWD", "prices": {"1": "1.250"}},
            ],
            customers=[
                {"ref": "ken", "name": "Ken", "reseller": "r1", "currency": "JPY", "balance": "12000"},
                {"ref": "ali", "name": "Ali", "reseller": "r1", "currency": "KWD", "balance": "2.125"},
            ],
        ),
        actor=Actor.system("test"),
    )
    return {
        "ken": member(customer=Customer.objects.get(ref="ken"), username="ken", password="pw"),
        "ali": member(customer=Customer.objects.get(ref="ali"), username="ali", password="pw"),
        "staff": member(reseller=Reseller.objects.get(ref="r1"), username="staff", password="pw"),
    }


def page(client, user, name, *args, **query) -> str:
    client.force_login(user)
    response = client.get(reverse(name, args=args), query)
    assert response.status_code == 200
    return response.content.decode()


def test_a_yen_customer_sees_whole_yen(client, shops):
    y1 = Order.objects.get(ref="y1")
    assert 'id="balance">12000 JPY<' in page(client, shops["ken"], "balance")
    assert "1 mo: 550<" in page(client, shops["ken"], "order-detail", y1.pk)
    form = page(client, shops["ken"], "renew", order=y1.pk)
    assert 'id="quote-total">550 JPY<' in form
    assert ">Pay 550 JPY</button>" in form
    assert 'data-places="0"' in form
    # Paid from the balance: the invoice in yen.
    ken = Actor(kind=ActorKind.CUSTOMER, label="ken", customer_id=y1.customer_id)
    renewal_pay(actor=ken, quote=renewal_quote(actor=ken, items=[(y1.pk, 1)]))
    assert "550 JPY" in page(client, shops["ken"], "invoices")
    balance = page(client, shops["ken"], "balance")
    assert 'id="balance">11450 JPY<' in balance
    assert '<td class="num">-550</td><td class="num">11450</td>' in balance
    assert "11450.000" not in balance


def test_a_dinar_customer_sees_three_places(client, shops):
    assert 'id="balance">2.125 KWD<' in page(client, shops["ali"], "balance")
    d1 = Order.objects.get(ref="d1")
    assert 'id="quote-total">1.250 KWD<' in page(client, shops["ali"], "renew", order=d1.pk)


def test_the_reseller_sees_each_customer_in_its_currency(client, shops):
    customers = page(client, shops["staff"], "reseller-customers")
    assert "12000 JPY" in customers
    assert "2.125 KWD" in customers
    preview = page(client, shops["staff"], "reseller-preview")
    assert "550 JPY" in preview
    assert "1.250 KWD" in preview
    assert "550.000" not in preview


def test_the_api_writes_each_amount_with_its_currencys_places(shops):
    ken = APIClient()
    ken.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=shops['ken'])}")
    balance = ken.get("/api/balance/").json()
    assert (balance["balance"], balance["available"], balance["held"], balance["currency"]) == (
        "12000",
        "12000",
        "0",
        "JPY",
    )
    y1 = Order.objects.get(ref="y1")
    assert ken.get(f"/api/orders/{y1.pk}/").json()["periods"] == [{"months": 1, "price": "550"}]
    (entry,) = ken.get("/api/ledger/").json()["results"]
    assert (entry["amount"], entry["balance_after"]) == ("12000", "12000")
    staff = APIClient()
    staff.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=shops['staff'])}")
    listed = {c["ref"]: (c["balance"], c["credit_limit"]) for c in staff.get("/api/customers/").json()["results"]}
    assert listed == {"ken": ("12000", "0"), "ali": ("2.125", "0.000")}
    preview = staff.get("/api/sweep-preview/").json()
    assert {t["currency"]: t["amount"] for t in preview["summary"]["totals"]} == {"JPY": "550", "KWD": "1.250"}


def test_a_quote_over_the_api_prices_pro_rata_in_fils(shops):
    ali = APIClient()
    ali.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=shops['ali'])}")
    d1 = Order.objects.get(ref="d1")
    align = (d1.expires_on.day % 28) + 1  # another day of the month: some days pro rata
    quote = ali.post("/api/quotes/", {"items": [{"order": d1.pk}], "align_day": align}, format="json").json()
    expected = renewal_period(
        expires_on=d1.expires_on, anchor_day=d1.anchor_day, months=1, price=d1.plan.prices.get().amount,
        currency="KWD", align_day=align,
    ).amount  # fmt: skip
    assert quote["total"] == quote["lines"][0]["amount"] == f"{expected:f}"
    assert len(quote["total"].split(".")[1]) == 3
