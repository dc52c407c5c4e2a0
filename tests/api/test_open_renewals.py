"""GET /api/open-renewals/: the caller's renewals waiting for payment, paid
through POST /api/renewals/ like any order.

The portal (tests/panels/conftest.py), its windows open today: c1 (balance
100.00) has o1 (Basic, 1 month, paid thru today+5) and o2 (Basic, 12
months, today+20; o3 opens later); c2 of west (under acme) has o4; c9 of
other has o9. Logins: owner and colleague (c1), outsider (c9), acme, west.
"""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from balances.models import EntryKind
from balances.services import ledger_post
from invoices.models import Invoice
from renewals.facts import load_catalog
from renewals.open import open_renewals_sync
from tenants.scope import Actor

URL = "/api/open-renewals/"


@pytest.fixture
def opened(tenants):
    """The nightly step of today: the open renewals of o1, o2, o4 and o9."""
    assert open_renewals_sync(tenants.today, load_catalog()) == 4
    return tenants


def refs(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["order_ref"] for row in response.json()["results"]]


@pytest.mark.django_db
def test_the_owner_lists_its_open_renewals_with_what_each_costs(api, opened):
    body = api("owner").get(URL).json()
    o1 = opened.orders["o1"]
    assert body["count"] == 2
    first = body["results"][0]  # the soonest to pay first
    assert {k: v for k, v in first.items() if k != "id"} == {
        "order": o1.pk,
        "order_ref": "o1",
        "cycle": o1.expires_on.isoformat(),
        "months": 1,
        "amount": "10.00",
        "currency": "USD",
        "pay_by": o1.expires_on.isoformat(),
        "status": "open",
        "created_on": opened.today.isoformat(),
        "closed_on": None,
        "invoice": None,
    }
    assert (body["results"][1]["order_ref"], body["results"][1]["amount"]) == ("o2", "100.00")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("owner", ["o1", "o2"]),
        ("colleague", ["o1", "o2"]),  # the same account
        ("outsider", ["o9"]),  # never c1's
        ("acme", ["o1", "o4", "o2"]),  # its subtree: c1 and west's c2
        ("west", ["o4"]),
        ("other", ["o9"]),
    ],
)
def test_each_login_sees_its_tenants_only(api, opened, username, expected):
    assert refs(api(username).get(URL)) == expected


@pytest.mark.django_db
def test_the_list_costs_the_same_queries_for_one_row_or_many(api, opened):
    west, acme = api("west"), api("acme")
    west.get(URL), acme.get(URL)  # tokens issued and used once
    with CaptureQueriesContext(connection) as one:
        assert len(refs(west.get(URL))) == 1
    with CaptureQueriesContext(connection) as three:
        assert len(refs(acme.get(URL))) == 3
    assert len(one) == len(three), [q["sql"][:80] for q in three.captured_queries]


@pytest.mark.django_db
def test_filtered_by_status_and_paginated(api, opened):
    owner = api("owner")
    assert refs(owner.get(URL, {"status": "open"})) == ["o1", "o2"]
    assert refs(owner.get(URL, {"status": "closed"})) == []
    page = owner.get(URL, {"page_size": 1}).json()
    assert (page["count"], len(page["results"]), page["next"] is not None) == (2, 1, True)
    bad = owner.get(URL, {"status": "paid"})
    assert bad.status_code == 400
    assert "status" in bad.json()["error"]["fields"]


@pytest.mark.django_db
def test_two_paid_in_one_step_are_closed_with_the_invoice(api, opened):
    # Given the owner's two open renewals (110.00 in all) and 120.00 on the balance
    owner = api("owner")
    ledger_post(
        actor=Actor.system("test"),
        account_id=opened.customers["c1"].pk,
        amount=Decimal("20.00"),
        kind=EntryKind.ADJUSTMENT,
    )
    rows = owner.get(URL).json()["results"]
    items = [{"order": row["order"], "months": row["months"]} for row in rows]
    # When they pay both with POST /api/renewals/, like any orders
    paid = owner.post(
        "/api/renewals/", {"items": items, "payment": "balance"}, format="json", HTTP_IDEMPOTENCY_KEY="open-1"
    )
    assert paid.status_code == 201, paid.json()
    # Then both are closed with that invoice, and none is open
    invoice = Invoice.objects.get(pk=paid.json()["id"])
    closed = owner.get(URL, {"status": "closed"}).json()["results"]
    assert [(row["order_ref"], row["invoice"], row["closed_on"]) for row in closed] == [
        ("o1", invoice.pk, opened.today.isoformat()),
        ("o2", invoice.pk, opened.today.isoformat()),
    ]
    assert refs(owner.get(URL, {"status": "open"})) == []


@pytest.mark.django_db
def test_do_not_renew_cancels_it_and_clearing_it_opens_it_again(api, opened):
    owner, o1 = api("owner"), opened.orders["o1"]
    assert owner.patch(f"/api/orders/{o1.pk}/", {"do_not_renew": True}, format="json").status_code == 200
    cancelled = owner.get(URL, {"status": "cancelled"}).json()["results"]
    assert [(row["order_ref"], row["closed_on"]) for row in cancelled] == [("o1", opened.today.isoformat())]
    assert refs(owner.get(URL, {"status": "open"})) == ["o2"]
    # Cleared while its window holds: waiting for payment again at once
    assert owner.patch(f"/api/orders/{o1.pk}/", {"do_not_renew": False}, format="json").status_code == 200
    assert refs(owner.get(URL, {"status": "open"})) == ["o1", "o2"]


@pytest.mark.django_db
def test_not_for_anonymous_callers(opened):
    from rest_framework.test import APIClient

    assert APIClient().get(URL).status_code == 401
