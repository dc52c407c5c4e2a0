"""Resellers are customers too (SPEC): west (under acme) holds its own account
``wown`` with acme. West's staff see "Our orders" and renew them like a
customer, and nothing more of acme's; acme sees the account among its
customers.

The portal (tests/panels/conftest.py) plus wown (balance 50.00: ow1 basic
10.00 a month, ow2 basic on 12 months) sold by acme, owned by west.
"""

import html
from decimal import Decimal

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from balances.models import Account
from invoices.models import Invoice
from notifications.models import Notice
from orders.models import Order
from tenants.models import Customer
from tenants.scope import Actor
from tenants.services import customer_set_owner_reseller
from tests.factories import member
from tests.helpers import hidden_fields
from tests.panels.conftest import portal
from tests.renewals.conftest import order

pytestmark = pytest.mark.django_db

RESELLERS = [
    {"ref": "acme", "name": "Acme Hosting", "email": "billing@acme.test"},
    {"ref": "west", "name": "Acme West", "email": "west@acme.test", "parent": "acme"},
    {"ref": "other", "name": "Other Hosting", "email": "hi@other.test"},
]


@pytest.fixture
def own(tenants):
    """West's own account, held with acme, and its two orders."""
    portal(
        [order("ow1", tenants.days(5), customer="wown"), order("ow2", tenants.days(20), customer="wown", tenure=12)],
        resellers=RESELLERS,
        customers=[
            {"ref": "wown", "name": "Acme West (own)", "email": "ops@west.test", "reseller": "acme", "balance": "50.00"}
        ],
    )
    account = Customer.objects.get(ref="wown")
    customer_set_owner_reseller(actor=Actor.system("test"), customer_id=account.pk, owner=tenants.resellers["west"])
    tenants.customers["wown"] = account
    tenants.orders.update({o.ref: o for o in Order.objects.filter(customer=account)})
    return account


def text(response) -> str:
    return html.unescape(response.content.decode())


def signed_in(client, tenants, username):
    client.force_login(tenants.users[username])
    return client


OUR = reverse("reseller-our-orders")
OUR_RENEW = reverse("reseller-our-renew")


def test_our_orders_is_in_the_resellers_menu(client, tenants, own):
    page = text(signed_in(client, tenants, "west").get(reverse("reseller-customers")))
    assert f'<a href="{OUR}" class="">Our orders</a>' in page


def test_our_orders_lists_the_own_accounts_orders_only(client, tenants, own):
    page = text(signed_in(client, tenants, "west").get(OUR))
    assert "Acme West (own)" in page
    assert "50.00 USD" in page
    assert "ops@west.test" in page
    for ref in ("ow1", "ow2"):
        assert f'aria-label="Renew {ref}"' in page
    for ref in ("o1", "o4", "o9"):  # acme's customer, west's own customer, another reseller's
        assert f'aria-label="Renew {ref}"' not in page


def test_a_colleague_of_west_sees_them_too(client, tenants, own):
    colleague = member(reseller=tenants.resellers["west"], username="west2", password="pw")
    client.force_login(colleague)
    assert 'aria-label="Renew ow1"' in text(client.get(OUR))


def test_a_reseller_without_an_own_account_is_told_so(client, tenants, own):
    page = text(signed_in(client, tenants, "acme").get(OUR))
    assert "Your business holds no account of its own" in page
    assert 'aria-label="Renew' not in page
    assert signed_in(client, tenants, "acme").get(OUR_RENEW, {"order": [tenants.orders["o1"].pk]}).status_code == 404


def test_west_renews_its_own_orders_like_a_customer(client, tenants, own):
    # Given west's staff on the renewal page of its two orders
    ow1, ow2 = tenants.orders["ow1"], tenants.orders["ow2"]
    client = signed_in(client, tenants, "west")
    page = client.get(OUR_RENEW, {"order": [ow1.pk, ow2.pk]})
    assert "Renew 2 orders" in text(page)
    assert "Pay 20.00 USD" in text(page)

    # When they pay from the own account's balance
    data = {**hidden_fields(page.content.decode()), "order": [ow1.pk, ow2.pk], "payment": "balance", "action": "pay"}
    response = client.post(OUR_RENEW, data, follow=True)

    # Then the invoice is acme's (the seller), shown under "Our orders", the balance down by 20.00
    invoice = Invoice.objects.get(customer=own)
    assert response.redirect_chain[-1][0] == reverse("reseller-our-invoice", args=[invoice.pk])
    assert f"Renewed 2 orders: 20.00 USD paid, invoice {invoice.number}." in text(response)
    assert invoice.reseller_id == tenants.resellers["acme"].pk
    assert invoice.number.startswith(tenants.resellers["acme"].invoice_prefix)
    assert Account.objects.get(pk=own.pk).balance == Decimal("30.00")
    assert AuditEvent.objects.get(action="ledger.renewal", target_id=own.pk).actor_label == "west"
    # The notices go to the own account's email
    assert Notice.objects.filter(customer=own, kind="renewal_succeeded", recipient="ops@west.test").exists()
    # And the list shows the invoice
    assert invoice.number in text(client.get(OUR))


def test_our_renew_takes_no_order_but_the_own_accounts(client, tenants, own):
    client = signed_in(client, tenants, "west")
    for stranger in ("o4", "o1", "o9"):  # west's customer, acme's, another reseller's
        assert client.get(OUR_RENEW, {"order": [tenants.orders[stranger].pk]}).status_code == 404
    assert Invoice.objects.count() == 0


def test_the_upper_reseller_sees_the_own_account_among_its_customers(client, tenants, own):
    client = signed_in(client, tenants, "acme")
    assert "Acme West (own)" in text(client.get(reverse("reseller-customers")))
    page = text(client.get(reverse("reseller-customer", args=[own.pk])))
    assert "The own account of Acme West, a reseller below you" in page
    # and renews it for them like any customer's
    ow1 = tenants.orders["ow1"]
    assert client.get(reverse("reseller-renew", args=[own.pk]), {"order": [ow1.pk]}).status_code == 200


def test_the_sub_reseller_reaches_nothing_more_of_acmes(client, tenants, own):
    # West's staff: the own account only under "Our orders", never as a customer of theirs, nor acme's others
    client = signed_in(client, tenants, "west")
    c1, o1 = tenants.customers["c1"], tenants.orders["o1"]
    for name, args in (
        ("reseller-customer", [own.pk]),
        ("reseller-customer", [c1.pk]),
        ("reseller-renew", [own.pk]),
        ("reseller-renew", [c1.pk]),
    ):
        assert client.get(reverse(name, args=args), {"order": [o1.pk]}).status_code == 404, name
    customers = text(client.get(reverse("reseller-customers")))
    assert "Acme West (own)" not in customers
    assert "Jane Doe" not in customers


def test_our_invoice_is_the_own_accounts_only(client, tenants, own):
    acme = signed_in(client, tenants, "acme")
    c1, o1 = tenants.customers["c1"], tenants.orders["o1"]
    page = acme.get(reverse("reseller-renew", args=[c1.pk]), {"order": [o1.pk]})
    data = {**hidden_fields(page.content.decode()), "order": [o1.pk], "payment": "balance", "action": "pay"}
    acme.post(reverse("reseller-renew", args=[c1.pk]), data)
    jane = Invoice.objects.get(customer=c1)
    west = signed_in(client, tenants, "west")
    assert west.get(reverse("reseller-our-invoice", args=[jane.pk])).status_code == 404


def test_customers_get_404_on_our_orders(client, tenants, own):
    client = signed_in(client, tenants, "owner")
    assert client.get(OUR).status_code == 404
    assert client.get(OUR_RENEW, {"order": [tenants.orders["o1"].pk]}).status_code == 404
