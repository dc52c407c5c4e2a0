"""A card migrated by import_portal (a Stripe customer and payment method id)
shows its brand, last 4 and expiry: asked from the real localstripe after the
import commits, or the first time the card is shown; never inside a
transaction, and never failing the import or a page when Stripe is down."""

import io
import json

import pytest
import stripe
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

import payments.services
from payments.gateway import stripe_client
from payments.models import Card
from tenants.models import Customer
from tests.factories import member
from tests.payments.test_cards import GOOD, tokenise
from tests.renewals.conftest import portal_document

# Nothing listens there: a refused connection, as when Stripe is unreachable.
UNREACHABLE = "http://127.0.0.1:1"


@pytest.fixture
def saved_at_stripe(stripe_on):
    """(customer id, payment method id) of a visa 4242, expiring 12/2031,
    saved at localstripe under its own customer, as another portal left it."""
    client = stripe_client()
    customer = client.Customer.create(email="jane@example.test")
    method = client.PaymentMethod.attach(tokenise(GOOD), customer=customer.id)
    return customer.id, method.id


@pytest.fixture
def requests_to_stripe(monkeypatch):
    """The URLs the SDK requests, each with whether a transaction was open."""
    seen = []
    real = stripe.RequestsClient.request

    def request(self, method, url, headers, post_data=None):
        seen.append((url.split("?")[0], connection.in_atomic_block))
        return real(self, method, url, headers, post_data)

    monkeypatch.setattr(stripe.RequestsClient, "request", request)
    return seen


@pytest.fixture
def _pages_may_ask_again(monkeypatch):
    """No pause left over from another test's outage."""
    monkeypatch.setattr(payments.services, "_card_details_paused_until", 0.0)


def import_portal(tmp_path, stripe_customer_id: str, stripe_payment_method_id: str) -> str:
    customer = {
        "ref": "c1",
        "name": "Jane Doe",
        "email": "jane@example.test",
        "reseller": "r1",
        "balance": "10.00",
        "stripe_customer_id": stripe_customer_id,
        "stripe_payment_method_id": stripe_payment_method_id,
    }
    path = tmp_path / "portal.json"
    path.write_text(json.dumps(portal_document([], customers=[customer])))
    out = io.StringIO()
    call_command("import_portal", str(path), stdout=out)
    return out.getvalue()


def logins():
    c1 = Customer.objects.get(ref="c1")
    outsider = Customer.objects.create(ref="c9", name="Olga", email="o@x.test", reseller=c1.reseller)
    return {
        "owner": member(customer=c1, username="owner", password="pw"),
        "colleague": member(customer=c1, username="colleague", password="pw"),
        "outsider": member(customer=outsider, username="outsider", password="pw"),
    }


def api_cards(user) -> list[dict]:
    client = APIClient()
    client.force_authenticate(user)
    response = client.get("/api/cards/")
    assert response.status_code == 200, response.content
    return [{k: row[k] for k in ("brand", "last4", "exp_month", "exp_year")} for row in response.json()["results"]]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_pages_may_ask_again")
def test_an_imported_card_is_described_by_stripe_once_the_import_committed(
    saved_at_stripe, requests_to_stripe, tmp_path, client
):
    customer_id, method_id = saved_at_stripe
    import_portal(tmp_path, customer_id, method_id)

    card = Card.objects.get()
    assert (str(card), card.exp_month, card.exp_year, card.is_default) == ("visa •••• 4242", 12, 2031, True)
    assert requests_to_stripe == [(f"{stripe_client().api_base}/v1/payment_methods/{method_id}", False)]
    users = logins()
    for name in ("owner", "colleague"):
        client.force_login(users[name])
        page = client.get(reverse("cards")).content.decode()
        assert "visa •••• 4242" in page
        assert "12/2031" in page
        assert api_cards(users[name]) == [{"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2031}]
    assert api_cards(users["outsider"]) == []
    assert len(requests_to_stripe) == 1  # known now: the pages asked Stripe nothing


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_pages_may_ask_again")
def test_with_stripe_unreachable_the_import_succeeds_and_the_pages_answer(
    saved_at_stripe, stripe_on, requests_to_stripe, settings, tmp_path, client, caplog
):
    customer_id, method_id = saved_at_stripe
    settings.STRIPE_API_BASE = UNREACHABLE
    assert "customers: 1 created" in import_portal(tmp_path, customer_id, method_id)
    card = Card.objects.get()
    assert (card.stripe_payment_method_id, card.last4, card.is_default) == (method_id, "", True)
    assert "card details: Stripe did not answer" in caplog.text

    owner = logins()["owner"]
    client.force_login(owner)
    asked = len(requests_to_stripe)
    for name in ("cards", "balance"):
        response = client.get(reverse(name))
        assert response.status_code == 200
    assert "card •••• ????" in client.get(reverse("cards")).content.decode()
    assert api_cards(owner) == [{"brand": "", "last4": "", "exp_month": None, "exp_year": None}]
    # Stripe did not answer a moment ago: the pages do not each wait on it again.
    assert len(requests_to_stripe) == asked

    # Stripe answers again and the pause is over: the first page to show the card describes it.
    settings.STRIPE_API_BASE = stripe_on
    payments.services._card_details_paused_until = 0.0
    assert "visa •••• 4242" in client.get(reverse("cards")).content.decode()
    assert Card.objects.get().last4 == "4242"
    assert all(not in_transaction for _url, in_transaction in requests_to_stripe)


@pytest.mark.django_db
@pytest.mark.usefixtures("_pages_may_ask_again")
def test_a_card_stripe_does_not_know_stays_unknown_and_the_page_answers(stripe_on, portal, client, caplog):
    portal(
        [],
        customers=[
            {
                "ref": "c1",
                "name": "Jane Doe",
                "reseller": "r1",
                "stripe_customer_id": "cus_gone",
                "stripe_payment_method_id": "pm_gone",
            }
        ],
    )
    client.force_login(logins()["owner"])
    page = client.get(reverse("cards"))
    assert page.status_code == 200
    assert "card •••• ????" in page.content.decode()
    assert "card details: Stripe does not describe pm_gone" in caplog.text
