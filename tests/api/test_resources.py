"""The REST API's resources through DRF's test client, with tokens: every
endpoint, tenant isolation (another tenant's id is a 404 that changes
nothing), who may call what, input errors by field path, fixed query counts
and a schema that declares what each endpoint can answer.

The portal is tests/panels/conftest.py's: resellers acme > west and other;
customers c1 (acme; logins owner and colleague), c2 (west), c9 (other; login
outsider); orders o1, o2, o3 (c1), o4 (c2), o9 (c9)."""

import datetime
import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken as Token
from rest_framework.test import APIClient

from api import urls_resources
from balances.models import Account, EntryKind
from balances.services import ledger_post
from invoices.models import Invoice
from notifications.models import Notice, NoticeKind
from orders.models import Order
from payments.models import Card, PaymentAttempt
from tenants.models import Customer
from tenants.scope import Actor

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_throttles():
    """The API's rate limits count in the cache, which outlives a test."""
    cache.clear()
    yield
    cache.clear()


def night(day: datetime.date) -> None:
    """The nightly run for one business date, as the scheduler runs it."""
    call_command("run_renewals", "--date", day.isoformat(), verbosity=0)


@pytest.fixture
def renewed(tenants):
    """Tonight's run after c1 topped up to 200.00: c1's o1 and o2 renew (an
    invoice and notices for c1), c2 fails with no funds (a failure notice to
    west), c9 renews. c1 also has two saved cards (no Stripe needed to list or
    choose them)."""
    ledger_post(
        actor=Actor.system("test"), account_id=tenants.customers["c1"].pk, amount=Decimal("100.00"), kind="top_up"
    )
    night(tenants.today)
    c1 = tenants.customers["c1"]
    cards = [
        Card.objects.create(account_id=c1.pk, stripe_payment_method_id="pm_c1_a", brand="visa", last4="4242",
                            exp_month=12, exp_year=2031, is_default=True),
        Card.objects.create(account_id=c1.pk, stripe_payment_method_id="pm_c1_b", brand="mastercard", last4="4444",
                            exp_month=1, exp_year=2032),
    ]  # fmt: skip
    return {
        "invoice": Invoice.objects.get(customer=c1),
        "notice": Notice.objects.filter(customer=c1, kind=NoticeKind.RENEWAL_SUCCEEDED).get(),
        "cards": cards,
    }


def call(client, method: str, url: str, data=None):
    if method == "get":
        return client.get(url, data)
    return getattr(client, method)(url, data, format="json")


def error(response, status: int, code: str) -> dict:
    """The one error shape: {"error": {"status", "code", "message", "fields"?}}."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == status
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def refs(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["ref"] for row in response.json()["results"]}


# Tokens ------------------------------------------------------------------------


def test_a_token_is_obtained_with_good_credentials_and_revoked(tenants):
    anonymous = APIClient()
    response = anonymous.post("/api/auth/token/", {"username": "owner", "password": "pw"}, format="json")
    assert response.status_code == 200
    key = response.json()["token"]
    assert Token.objects.get(user=tenants.users["owner"]).token_key == key[:15]  # only its digest is kept
    fields = error(anonymous.post("/api/auth/token/", {"username": "owner"}, format="json"), 400, "invalid")["fields"]
    assert set(fields) == {"password"}

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert refs(client.get("/api/orders/")) == {"o1", "o2", "o3"}
    assert client.delete("/api/auth/token/revoke/").status_code == 204
    assert not Token.objects.filter(user=tenants.users["owner"]).exists()
    error(client.get("/api/orders/"), 401, "authentication_failed")  # the revoked token no longer works


def test_bad_credentials_get_401_and_no_token(tenants):
    response = APIClient().post("/api/auth/token/", {"username": "owner", "password": "wrong"}, format="json")
    assert not Token.objects.exists()
    error(response, 401, "authentication_failed")


ENDPOINTS = [
    ("get", "/api/customers/"),
    ("get", "/api/orders/"),
    ("get", "/api/balance/"),
    ("patch", "/api/balance/"),
    ("post", "/api/balance/top-up/"),
    ("get", "/api/ledger/"),
    ("get", "/api/invoices/"),
    ("get", "/api/invoices/1/pdf/"),
    ("get", "/api/cards/"),
    ("get", "/api/messages/"),
    ("get", "/api/sweep-preview/"),
]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_every_endpoint_needs_a_login(tenants, method, url):
    error(call(APIClient(), method, url, {}), 401, "not_authenticated")


# Who may call what ---------------------------------------------------------------------


RESELLER_ONLY = [
    ("get", "/api/customers/", None),
    ("get", "/api/customers/{c1}/", None),
    ("put", "/api/customers/{c1}/auto-renew-allowed/", {"allowed": False}),
    ("get", "/api/sweep-preview/", None),
]
CUSTOMER_ONLY = [
    ("get", "/api/balance/", None),
    ("patch", "/api/balance/", {"auto_renew": False}),
    ("get", "/api/ledger/", None),
    ("post", "/api/balance/top-up/", {"amount": "25.00"}),
    ("get", "/api/cards/", None),
    ("post", "/api/cards/{card}/default/", None),
    ("delete", "/api/cards/{card}/", None),
]


def test_customers_get_403_on_reseller_endpoints_and_resellers_on_customer_endpoints(tenants, api, renewed):
    ids = {"c1": tenants.customers["c1"].pk, "card": renewed["cards"][1].pk}
    before = snapshot()
    for username in ("owner", "colleague", "outsider"):
        for method, url, data in RESELLER_ONLY:
            error(call(api(username), method, url.format(**ids), data), 403, "permission_denied")
    for username in ("acme", "west", "other"):
        for method, url, data in CUSTOMER_ONLY:
            error(call(api(username), method, url.format(**ids), data), 403, "permission_denied")
    assert snapshot() == before


# Tenant isolation ---------------------------------------------------------------


def snapshot():
    """What a refused request must leave as it was."""
    return (
        list(Order.objects.order_by("pk").values_list("pk", "auto_renew", "auto_renew_locked", "do_not_renew",
                                                      "payment_source", "expires_on")),
        list(Customer.objects.order_by("pk").values_list("pk", "allow_auto_renew")),
        list(Account.objects.order_by("pk").values_list("pk", "auto_renew", "balance")),
        list(Card.objects.order_by("pk").values_list("pk", "is_default")),
        list(Notice.objects.order_by("pk").values_list("pk", "read_at")),
        Invoice.objects.count(),
        PaymentAttempt.objects.count(),
    )  # fmt: skip


def test_another_tenant_gets_404_for_every_id_and_nothing_changes(tenants, api, renewed):
    c1, o1 = tenants.customers["c1"], tenants.orders["o1"]
    invoice, notice, card = renewed["invoice"], renewed["notice"], renewed["cards"][1]
    west_notice = Notice.objects.get(kind=NoticeKind.RESELLER_FAILURE, reseller=tenants.resellers["west"])
    before = snapshot()
    # Calls any customer or reseller may make, naming c1's (or acme's) ids.
    shared = [
        ("get", f"/api/orders/{o1.pk}/", None),
        ("patch", f"/api/orders/{o1.pk}/", {"auto_renew": False}),
        ("patch", f"/api/orders/{o1.pk}/", {"do_not_renew": True, "payment_source": "card"}),
        ("get", "/api/orders/", {"customer": c1.pk}),
        ("get", f"/api/invoices/{invoice.pk}/", None),
        ("get", f"/api/invoices/{invoice.pk}/pdf/", None),
        ("get", f"/api/messages/{notice.pk}/", None),
        ("post", f"/api/messages/{notice.pk}/read/", None),
    ]
    customer_calls = [
        ("post", f"/api/cards/{card.pk}/default/", None),
        ("delete", f"/api/cards/{card.pk}/", None),
        ("get", f"/api/messages/{west_notice.pk}/", None),  # a reseller's notice
    ]
    reseller_calls = [
        ("get", f"/api/customers/{c1.pk}/", None),
        ("put", f"/api/customers/{c1.pk}/auto-renew-allowed/", {"allowed": False}),
        ("patch", f"/api/orders/{o1.pk}/", {"auto_renew_locked": True}),
        ("get", f"/api/messages/{west_notice.pk}/", None),
    ]
    for method, url, data in shared + customer_calls:
        error(call(api("outsider"), method, url, data), 404, "not_found")
    for username in ("other", "west"):  # a stranger, and a sub-reseller looking up its parent's customer
        for method, url, data in shared + reseller_calls:
            if username == "west" and url == f"/api/messages/{west_notice.pk}/":
                continue  # c2's failure notice is west's own
            error(call(api(username), method, url, data), 404, "not_found")
    assert snapshot() == before


def test_every_list_holds_only_the_actors_tenant(tenants, api, renewed):
    expected_orders = {
        "owner": {"o1", "o2", "o3"},
        "colleague": {"o1", "o2", "o3"},
        "outsider": {"o9"},
        "acme": {"o1", "o2", "o3", "o4"},
        "west": {"o4"},
        "other": {"o9"},
    }
    for username, orders in expected_orders.items():
        assert refs(api(username).get("/api/orders/")) == orders, username
    for username, customers in {"acme": {"c1", "c2"}, "west": {"c2"}, "other": {"c9"}}.items():
        assert refs(api(username).get("/api/customers/")) == customers, username
    # c2's batch failed: no invoice for west to see.
    invoiced = {"owner": {"c1"}, "outsider": {"c9"}, "acme": {"c1"}, "west": set(), "other": {"c9"}}
    for username, customers in invoiced.items():
        invoices = api(username).get("/api/invoices/").json()["results"]
        assert {row["customer"] for row in invoices} == customers, username
    messages = {
        username: {(row["kind"], row["customer"]) for row in api(username).get("/api/messages/").json()["results"]}
        for username in ("owner", "outsider", "acme", "west", "other")
    }
    assert {customer for _, customer in messages["owner"]} == {"c1"}
    assert {customer for _, customer in messages["outsider"]} == {"c9"}
    assert messages["west"] == {("reseller_failure", "c2")}  # c2's reseller is west
    assert messages["acme"] == messages["other"] == set()
    assert [row["last4"] for row in api("owner").get("/api/cards/").json()["results"]] == ["4242", "4444"]
    assert api("outsider").get("/api/cards/").json()["results"] == []
    assert api("outsider").get("/api/balance/").json()["balance"] == "40.00"  # 50.00 less o9's renewal


# Orders -------------------------------------------------------------------------


def test_the_orders_list_says_whether_each_order_will_renew_and_why_not(tenants, api):
    rows = {row["ref"]: row for row in api("owner").get("/api/orders/").json()["results"]}
    o1 = rows["o1"]
    assert o1 == {
        "id": tenants.orders["o1"].pk,
        "ref": "o1",
        "customer": "c1",
        "product": "Basic",
        "category": "hosting",
        "status": "active",
        "paid_thru": tenants.days(5).isoformat(),
        "days_remaining": 5,
        "auto_renew": True,
        "auto_renew_locked": False,
        "do_not_renew": False,
        "payment_source": "balance",
        "tenure_months": 1,
        "lead_days": None,
        "individual_price": None,
        "after_renewal": "keep",
        "will_auto_renew": True,
        "reason": None,
        "reason_text": f"It renews automatically: the first attempt is on {tenants.days(-2)}.",
    }
    assert (rows["o3"]["will_auto_renew"], rows["o3"]["reason"]) == (False, "order_auto_renew_off")
    assert rows["o3"]["reason_text"] == "Auto-renew is switched off for this order."


def test_order_filters_and_sorts(tenants, api):
    owner, acme = api("owner"), api("acme")
    assert refs(owner.get("/api/orders/", {"category": "ssl"})) == {"o3"}
    assert refs(owner.get("/api/orders/", {"expiring_within": 10})) == {"o1"}
    assert refs(owner.get("/api/orders/", {"status": "suspended"})) == set()
    assert refs(acme.get("/api/orders/", {"customer": tenants.customers["c2"].pk})) == {"o4"}
    assert [r["ref"] for r in owner.get("/api/orders/", {"sort": "-paid_thru"}).json()["results"]] == ["o3", "o2", "o1"]
    page = owner.get("/api/orders/", {"page_size": 2}).json()
    assert (page["count"], len(page["results"]), page["previous"]) == (3, 2, None)
    assert page["next"].endswith("page=2&page_size=2")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "sleeping"}, "status"),
        ({"category": "boats"}, "category"),
        ({"expiring_within": "3651"}, "expiring_within"),
        ({"expiring_within": "-1"}, "expiring_within"),
        ({"expiring_within": "soon"}, "expiring_within"),
        ({"sort": "price"}, "sort"),
        ({"customer": "c1"}, "customer"),
    ],
)
def test_a_bad_order_filter_is_a_400_naming_the_field(tenants, api, params, field):
    fields = error(api("acme").get("/api/orders/", params), 400, "invalid")["fields"]
    assert list(fields) == [field]


def test_bad_input_anywhere_is_a_400_naming_the_field(tenants, api):
    o1 = tenants.orders["o1"].pk
    owner = api("owner")
    before = snapshot()
    cases = [
        (api("acme").get("/api/customers/", {"failing": "maybe"}), ["failing"]),
        (owner.patch(f"/api/orders/{o1}/", {"auto_renew": "perhaps"}, format="json"), ["auto_renew"]),
        (owner.patch(f"/api/orders/{o1}/", {"payment_source": "cash"}, format="json"), ["payment_source"]),
        (owner.patch(f"/api/orders/{o1}/", {"locked": False}, format="json"), ["locked"]),
        (owner.patch(f"/api/orders/{o1}/", {}, format="json"), ["body"]),
        (owner.patch("/api/balance/", {}, format="json"), ["auto_renew"]),
        (owner.post("/api/balance/top-up/", {"amount": "-5"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"), ["amount"]),
        (owner.post("/api/balance/top-up/", {"amount": "1.001"}, format="json", HTTP_IDEMPOTENCY_KEY="k2"), ["amount"]),
        (owner.post("/api/balance/top-up/", {"amount": "25.00"}, format="json"), ["Idempotency-Key"]),
        (api("acme").put(f"/api/customers/{tenants.customers['c1'].pk}/auto-renew-allowed/", {}, format="json"),
         ["allowed"]),
    ]  # fmt: skip
    for response, fields in cases:
        assert list(error(response, 400, "invalid")["fields"]) == fields, response.json()
    assert snapshot() == before


def test_order_detail_says_what_to_do_when_it_renews_and_what_it_sells(tenants, api):
    o1, o3 = tenants.orders["o1"], tenants.orders["o3"]
    detail = api("colleague").get(f"/api/orders/{o1.pk}/").json()
    assert detail["will_auto_renew"] is True
    assert detail["next_attempt"] == tenants.today.isoformat()  # the window opened two days ago: tonight
    assert detail["what_to_do"] == "Keep enough funds on the account (or a usable card)."
    assert detail["currency"] == "USD"
    assert detail["periods"] == [
        {"months": 1, "price": "10.00"},
        {"months": 3, "price": "27.00"},
        {"months": 12, "price": "100.00"},
    ]
    cert = api("owner").get(f"/api/orders/{o3.pk}/").json()
    assert (cert["reason"], cert["next_attempt"]) == ("order_auto_renew_off", None)
    assert cert["what_to_do"] == "Switch auto-renew on for the order, or renew it by hand."
    assert cert["periods"] == [{"months": 12, "price": "15.00"}]


def test_patching_an_order_changes_its_switches_and_answers_the_updated_order(tenants, api):
    o1 = tenants.orders["o1"]
    owner = api("owner")
    response = owner.patch(f"/api/orders/{o1.pk}/", {"auto_renew": False, "payment_source": "card"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["auto_renew"], body["payment_source"], body["will_auto_renew"], body["reason"]) == (
        False,
        "card",
        False,
        "order_auto_renew_off",
    )
    o1.refresh_from_db()
    assert (o1.auto_renew, o1.payment_source) == (False, "card")
    body = owner.patch(f"/api/orders/{o1.pk}/", {"do_not_renew": True}, format="json").json()
    assert (body["do_not_renew"], body["reason"]) == (True, "do_not_renew")


def test_a_locked_switch_is_403_auto_renew_locked_for_the_customer_and_stays(tenants, api):
    o1 = tenants.orders["o1"]
    locked = api("acme").patch(f"/api/orders/{o1.pk}/", {"auto_renew_locked": True}, format="json")
    assert locked.status_code == 200
    assert locked.json()["auto_renew_locked"] is True
    owner = api("owner")
    error(owner.patch(f"/api/orders/{o1.pk}/", {"auto_renew": False}, format="json"), 403, "auto_renew_locked")
    error(owner.patch(f"/api/orders/{o1.pk}/", {"auto_renew_locked": False}, format="json"), 403, "forbidden")
    o1.refresh_from_db()
    assert (o1.auto_renew, o1.auto_renew_locked) == (True, True)
    # The reseller still may; the customer may still change the other switches.
    assert api("acme").patch(f"/api/orders/{o1.pk}/", {"auto_renew": False}, format="json").status_code == 200
    assert owner.patch(f"/api/orders/{o1.pk}/", {"payment_source": "card"}, format="json").status_code == 200


# Customers ----------------------------------------------------------------------


def test_customers_list_detail_search_failing_and_the_auto_renew_permission(tenants, api):
    acme = api("acme")
    night(tenants.today)  # c1's batch (110.00) exceeds its 100.00, c2 has nothing: both fail
    rows = {row["ref"]: row for row in acme.get("/api/customers/").json()["results"]}
    c1 = tenants.customers["c1"]
    assert rows["c1"] == {
        "id": c1.pk,
        "ref": "c1",
        "name": "Jane Doe",
        "email": "jane@example.test",
        "reseller": "acme",
        "balance": "100.00",
        "currency": "USD",
        "credit_limit": "0.00",
        "allow_auto_renew": True,
        "orders_active": 3,
        "orders_suspended": 0,
        "failed_renewals": 2,
    }
    assert rows["c2"]["reseller"] == "west"
    assert refs(acme.get("/api/customers/", {"q": "jane"})) == {"c1"}
    assert refs(acme.get("/api/customers/", {"failing": "true"})) == {"c1", "c2"}
    assert acme.get(f"/api/customers/{c1.pk}/").json() == rows["c1"]

    response = acme.put(f"/api/customers/{c1.pk}/auto-renew-allowed/", {"allowed": False}, format="json")
    assert response.status_code == 200
    assert response.json()["allow_auto_renew"] is False
    assert not Customer.objects.get(pk=c1.pk).allow_auto_renew
    order = api("owner").get(f"/api/orders/{tenants.orders['o1'].pk}/").json()
    assert (order["reason"], order["reason_text"]) == (
        "not_allowed_by_reseller",
        "Your provider does not allow automatic renewal.",
    )


# The customer's account -----------------------------------------------------------


def test_balance_master_switch_and_ledger(tenants, api):
    owner = api("owner")
    assert owner.get("/api/balance/").json() == {
        "balance": "100.00",
        "credit_limit": "0.00",
        "held": "0.00",
        "available": "100.00",
        "renewal_day": None,
        "currency": "USD",
        "auto_renew": True,
    }
    response = owner.patch("/api/balance/", {"auto_renew": False}, format="json")
    assert (response.status_code, response.json()["auto_renew"]) == (200, False)
    assert not Account.objects.get(pk=tenants.customers["c1"].pk).auto_renew
    order = owner.get(f"/api/orders/{tenants.orders['o1'].pk}/").json()
    assert order["reason"] == "account_auto_renew_off"
    ledger = owner.get("/api/ledger/").json()["results"]
    assert [(row["kind"], row["amount"], row["balance_after"]) for row in ledger] == [
        (EntryKind.OPENING, "100.00", "100.00")
    ]


def test_a_top_up_without_a_card_is_refused_with_422(tenants, api):
    before = snapshot()
    response = api("owner").post("/api/balance/top-up/", {"amount": "25.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    error(response, 422, "no_usable_card")
    assert snapshot() == before


def test_choosing_the_default_card(tenants, api, renewed):
    first, second = renewed["cards"]
    response = api("colleague").post(f"/api/cards/{second.pk}/default/")
    assert response.status_code == 200
    assert response.json() == {
        "id": second.pk,
        "brand": "mastercard",
        "last4": "4444",
        "exp_month": 1,
        "exp_year": 2032,
        "is_default": True,
    }
    assert list(Card.objects.order_by("pk").values_list("is_default", flat=True)) == [False, True]
    assert [row["id"] for row in api("owner").get("/api/cards/").json()["results"]] == [second.pk, first.pk]


def test_top_up_by_card_and_removing_a_card_against_localstripe(tenants, api, stripe_on):
    from payments.gateway import stripe_client
    from payments.services import card_add

    c1 = tenants.customers["c1"]
    method = stripe_client().PaymentMethod.create(
        type="card", card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
    )
    actor = Actor.system("test")
    card = card_add(actor=actor, account_id=c1.pk, payment_method_id=method.id)
    owner = api("owner")
    response = owner.post("/api/balance/top-up/", {"amount": "25.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 201
    assert {k: v for k, v in response.json().items() if k != "id"} == {
        "state": "succeeded",
        "amount": "25.00",
        "currency": "USD",
        "error": "",
    }
    assert owner.get("/api/balance/").json()["balance"] == "125.00"
    assert owner.delete(f"/api/cards/{card.pk}/").status_code == 204
    assert not Card.objects.exists()
    response = owner.post("/api/balance/top-up/", {"amount": "25.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k2")
    error(response, 422, "no_usable_card")


# Invoices and messages --------------------------------------------------------------


def test_invoices_list_and_detail(tenants, api, renewed):
    invoice = renewed["invoice"]
    listed = api("owner").get("/api/invoices/").json()["results"]
    assert [row["number"] for row in listed] == [invoice.number]
    detail = api("acme").get(f"/api/invoices/{invoice.pk}/").json()
    assert (detail["customer"], detail["total"], detail["source"]) == ("c1", "110.00", "automatic")
    assert sorted((line["order"], line["amount"]) for line in detail["lines"]) == [("o1", "10.00"), ("o2", "100.00")]


def test_messages_list_detail_and_marking_read(tenants, api, renewed):
    notice = renewed["notice"]
    owner = api("owner")
    rows = {row["id"]: row for row in owner.get("/api/messages/").json()["results"]}
    row = rows[notice.pk]
    assert (row["kind"], row["customer"], row["read"]) == ("renewal_succeeded", "c1", False)
    assert sorted(row["orders"]) == ["o1", "o2"]
    assert row["subject"] == notice.rendered().subject
    assert "110.00 USD" in row["subject"]
    detail = owner.get(f"/api/messages/{notice.pk}/").json()
    assert "110.00 USD" in detail["text"]
    assert "110.00 USD" in detail["html"]
    assert detail["read"] is False  # reading is not marking read
    assert Notice.objects.get(pk=notice.pk).read_at is None
    response = api("colleague").post(f"/api/messages/{notice.pk}/read/")
    assert (response.status_code, response.json()["read"]) == (200, True)
    assert Notice.objects.get(pk=notice.pk).read_at is not None


# Tonight's sweep ------------------------------------------------------------------


def test_the_sweep_preview_shows_each_customers_batch_and_shortfall(tenants, api):
    body = api("acme").get("/api/sweep-preview/").json()
    assert body["date"] == tenants.today.isoformat()
    assert body["summary"] == {
        "customers": 2,
        "renewing": 0,
        "renewing_orders": 0,
        "failing": 2,
        "failing_orders": 3,
        "skipped_orders": 0,
        "waiting": 0,
        "totals": [],
    }
    assert (body["count"], body["next"], body["previous"]) == (2, None, None)
    jane, wes = body["results"]
    assert {k: v for k, v in jane.items() if k not in ("orders", "skipped")} == {
        "customer_id": tenants.customers["c1"].pk,
        "customer": "c1",
        "name": "Jane Doe",
        "currency": "USD",
        "outcome": "failed",
        "reason": "insufficient_funds",
        "reason_text": "Your balance and credit limit do not cover the whole renewal, and there is no usable card.",
        "what_to_do": "Top up your balance or save a card before the expiry date.",
        "total": "110.00",
        "from_balance": "110.00",
        "from_card": "0.00",
        "shortfall": "10.00",
        "waiting": False,  # no retry policy: tried every night (docs/dunning.md)
        "next_attempt": body["date"],
    }
    assert jane["orders"][0] == {
        "ref": "o1",
        "product": "Basic, 1 month(s)",
        "payment_source": "balance",
        "paid_thru": tenants.days(5).isoformat(),
        "new_paid_thru": (tenants.days(5) + _one_month(tenants.days(5))).isoformat(),
        "amount": "10.00",
    }
    assert jane["skipped"] == []
    assert (wes["customer"], wes["shortfall"]) == ("c2", "10.00")
    assert [line["customer"] for line in api("west").get("/api/sweep-preview/").json()["results"]] == ["c2"]
    other = api("other").get("/api/sweep-preview/").json()
    assert [(line["customer"], line["outcome"]) for line in other["results"]] == [("c9", "renewed")]
    assert other["summary"]["totals"] == [{"currency": "USD", "amount": "10.00"}]


def test_the_sweep_preview_lists_skipped_orders_with_their_reason(tenants, api):
    api("owner").patch(f"/api/orders/{tenants.orders['o2'].pk}/", {"auto_renew": False}, format="json")
    jane = api("acme").get("/api/sweep-preview/").json()["results"][-1]
    assert (jane["customer"], jane["outcome"], jane["reason"]) == ("c1", "renewed", None)
    assert jane["skipped"] == [
        {
            "ref": "o2",
            "product": "Basic, 12 month(s)",
            "paid_thru": tenants.days(20).isoformat(),
            "reason": "order_auto_renew_off",
            "reason_text": "Auto-renew is switched off for this order.",
            "what_to_do": "Switch auto-renew on for the order, or renew it by hand.",
        }
    ]


def _one_month(day: datetime.date) -> datetime.timedelta:
    from orders.periods import add_months

    return add_months(day, 1, day.day) - day


# Speed ------------------------------------------------------------------------


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(captured)


def test_the_orders_list_runs_the_same_queries_for_10_and_1000_orders(tenants, api):
    owner = api("owner")

    def count(n: int) -> int:
        have = Order.objects.filter(customer=tenants.customers["c1"]).count()
        template = tenants.orders["o1"]
        Order.objects.bulk_create(
            Order(ref=f"x{have + i}", customer=template.customer, plan=template.plan, tenure_months=1,
                  expires_on=tenants.days(10 + i % 300), auto_renew=True)
            for i in range(n - have)
        )  # fmt: skip
        return queries(owner, "/api/orders/?sort=-paid_thru")

    # 1 the token and its user, 2 the membership, 3 the categories (filter),
    # 4 the count, 5 the page of orders with plan, category and customer,
    # 6 their renewal facts, 7 their accounts, 8-10 the catalog (prices,
    # plans, the reseller tree).
    assert count(10) == count(1000) == 10


def test_the_customers_list_runs_the_same_queries_for_10_and_1000_customers(tenants, api):
    acme = api("acme")

    def count(n: int) -> int:
        start = Customer.objects.count()
        customers = Customer.objects.bulk_create(
            Customer(ref=f"bulk{i}", name=f"Bulk {i:05d}", email=f"bulk{i}@example.test",
                     reseller=tenants.resellers["west"])
            for i in range(start, n)
        )  # fmt: skip
        Account.objects.bulk_create(Account(customer=c, currency="USD") for c in customers)
        return queries(acme, "/api/customers/")

    # 1 the token and its user, 2 the membership, 3 its reseller (the subtree's
    # path), 4 the count, 5 the page of customers with their account, reseller
    # and order counts (subqueries, not a query per row).
    assert count(10) == count(1000) == 5
    assert len(acme.get("/api/customers/").json()["results"]) == 50  # one page


# The schema -------------------------------------------------------------------


def schema_path(route: str) -> str:
    """'orders/<int:order_id>/' -> '/api/orders/{order_id}/'."""
    return "/api/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def test_the_schema_lists_every_endpoint_with_the_errors_it_can_answer(tenants):
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {schema_path(str(pattern.pattern)) for pattern in urls_resources.urlpatterns}
    assert expected <= set(paths), expected - set(paths)
    for path in expected:
        operations = {m: op for m, op in paths[path].items() if m in ("get", "post", "put", "patch", "delete")}
        assert operations, path
        for method, operation in operations.items():
            declared = set(operation["responses"])
            assert {"401", "403", "404", "429"} <= declared, (method, path, declared)
            assert any(code.startswith("2") for code in declared), (method, path)
    orders = paths["/api/orders/"]["get"]
    assert "400" in orders["responses"]
    assert {p["name"] for p in orders["parameters"]} >= {"status", "category", "expiring_within", "customer", "sort"}
    assert "422" in paths["/api/balance/top-up/"]["post"]["responses"]
    assert "422" in paths["/api/orders/{order_id}/"]["patch"]["responses"]


def test_requests_are_throttled_per_token(api, monkeypatch):
    from rest_framework.throttling import UserRateThrottle

    # The rates are read when DRF loads; a low one for this test only.
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/minute", "anon": "3/minute"})
    owner, colleague = api("owner"), api("colleague")
    assert [owner.get("/api/orders/").status_code for _ in range(3)] == [200, 200, 200]
    response = owner.get("/api/orders/")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    assert colleague.get("/api/orders/").status_code == 200  # another login's token has its own count


def test_an_admin_revokes_a_token_in_django_admin(api, tenants, admin_client):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from django.urls import reverse

    owner = api("owner")
    token = Token.objects.get(user=tenants.users["owner"])
    admin_client.post(
        reverse("admin:knox_authtoken_changelist"), {"action": "revoke", ACTION_CHECKBOX_NAME: [token.pk]}
    )
    assert not Token.objects.filter(user=tenants.users["owner"]).exists()
    assert owner.get("/api/orders/").status_code == 401
