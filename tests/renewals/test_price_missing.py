"""An order whose tenure has no price any more (deleted behind the admin's
back) is skipped with ``price_missing`` everywhere: the sweep's report, the
dry-run, the reseller's preview, the renewal center and "why
won't it renew"; nothing raises, and the account's other orders renew."""

import datetime

import pytest
import time_machine
from django.urls import reverse
from django.utils.html import escape

from catalog.models import PlanPrice
from orders.models import Order
from renewals.rules import Reason
from renewals.selectors import order_renewal_outlook, renewal_center, sweep_preview
from tenants.models import Customer, Reseller
from tenants.scope import Actor, ActorKind
from tests.factories import member
from tests.renewals.conftest import order

D = datetime.date
ON = D(2026, 12, 1)
PRICE_MISSING = Reason.PRICE_MISSING.value


@pytest.fixture
def priceless(portal):
    """c1 (balance 100.00): o1 renews at 12 months, whose price is then deleted
    with the ORM; o2 renews monthly. Both are due on 2026-12-01."""
    portal([order("o1", D(2026, 12, 10), tenure=12), order("o2", D(2026, 12, 5))])
    PlanPrice.objects.filter(plan__ref="basic", months=12).delete()
    return {o.ref: o for o in Order.objects.all()}


def customer_actor():
    return Actor(kind=ActorKind.CUSTOMER, label="c1", customer_id=Customer.objects.get(ref="c1").pk)


def reseller_actor():
    reseller = Reseller.objects.get(ref="r1")
    return Actor(kind=ActorKind.RESELLER, label="r1", reseller_id=reseller.pk, reseller_path=reseller.path)


def test_why_wont_it_renew_says_price_missing(priceless):
    outlook = order_renewal_outlook(actor=customer_actor(), order_id=priceless["o1"].pk, on=ON)
    assert (outlook.reason, outlook.what_to_do) == (
        PRICE_MISSING,
        "Renew it by hand with another period before it expires.",
    )


def test_the_renewal_center_lists_it_as_manual(priceless):
    manual = renewal_center(actor=customer_actor(), tab="manual", on=ON)
    assert [(row.order.ref, row.reason) for row in manual] == [("o1", PRICE_MISSING)]
    auto = renewal_center(actor=customer_actor(), tab="auto", on=ON)
    assert [row.order.ref for row in auto] == ["o2"]


def test_the_reseller_preview_skips_it(priceless):
    preview = sweep_preview(actor=reseller_actor(), on=ON)
    (line,) = preview.lines()
    assert [(item.order.ref, item.reason) for item, _product, _what in line.skipped] == [("o1", PRICE_MISSING)]
    assert [item.order.ref for item, _product in line.batch] == ["o2"]
    assert preview.summary()["skipped_orders"] == 1


def test_the_dry_run_and_the_run_report_it(priceless, run):
    outcomes = {"o1": ("skipped", PRICE_MISSING), "o2": ("renewed", "")}
    for dry_run in (True, False):
        report = run(ON, dry_run=dry_run)
        assert {o["order"]: (o["outcome"], o["reason"] or "") for o in report["orders"]} == outcomes
    # The nights after (reminders 7 and 1 days before expiry, then the lifecycle) run through.
    for on in (D(2026, 12, 3), D(2026, 12, 9), D(2026, 12, 10), D(2026, 12, 11)):
        report = run(on)
        assert all(o["reason"] == PRICE_MISSING for o in report["orders"] if o["order"] == "o1")
    assert Order.objects.get(ref="o1").status == "suspended"


@time_machine.travel(datetime.datetime(2026, 12, 1, 12, tzinfo=datetime.UTC))
def test_the_pages_say_it(priceless, client):
    customer = Customer.objects.get(ref="c1")
    client.force_login(member(customer=customer, username="owner"))
    sentence = escape(Reason.PRICE_MISSING.label)
    page = client.get(reverse("order-detail", args=[priceless["o1"].pk])).content.decode()
    assert sentence in page
    page = client.get(reverse("renewals"), {"tab": "manual"}).content.decode()
    assert sentence in page
    client.force_login(member(reseller=Reseller.objects.get(ref="r1"), username="staff"))
    response = client.get(reverse("reseller-preview"))
    assert response.status_code == 200
    assert "Renew it by hand with another period before it expires." in response.content.decode()
