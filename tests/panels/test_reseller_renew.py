"""A reseller renews its customers' orders by hand (SPEC "Manual renewal":
paid from the customer's balance or saved card, the payment's audit row names
the reseller's login, the customer gets the same notices), on the customer's
own renewal page, through the same quote and pay services.

The portal (tests/panels/conftest.py): acme (top) sells to c1 (Jane Doe,
balance 100.00: o1 basic 10.00 a month, o2 basic on 12 months, o3 cert);
west (under acme) to c2 (o4); other to c9 (o9). Staff logins: acme, west,
other; a second acme login, ``acme2``, is the colleague.
"""

import html
from decimal import Decimal

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from balances.models import Account
from core.errors import NotFound
from invoices.models import Invoice
from notifications.models import Notice
from orders.models import Order
from renewals.manual import renewal_pay, renewal_quote
from tenants.scope import actor_for_user
from tests.factories import member
from tests.helpers import hidden_fields

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return html.unescape(response.content.decode())


def signed_in(client, tenants, username):
    client.force_login(tenants.users[username])
    return client


def renew_url(customer) -> str:
    return reverse("reseller-renew", args=[customer.pk])


def renewal_form(client, customer, choices: dict) -> dict:
    """The reseller's renewal page for these choices, as its pay form posts it."""
    page = client.get(renew_url(customer), choices)
    assert page.status_code == 200, page.status_code
    return {**hidden_fields(page.content.decode()), **choices, "payment": "balance", "action": "pay"}


def money(tenants, ref="c1") -> tuple:
    """A customer's balance and invoice count, and o1's paid-thru date."""
    customer = tenants.customers[ref]
    return (
        Account.objects.get(pk=customer.pk).balance,
        Invoice.objects.filter(customer=customer).count(),
        Order.objects.get(pk=tenants.orders["o1"].pk).expires_on,
    )


# Through the service ----------------------------------------------------------


def test_the_quote_and_pay_services_take_a_reseller_in_its_subtree(tenants):
    # Given acme's staff, above west's customer c2 (balance 0) and its own c1
    acme = actor_for_user(tenants.users["acme"])
    o1, o2 = tenants.orders["o1"], tenants.orders["o2"]

    # When acme quotes and pays c1's two orders
    quote = renewal_quote(actor=acme, items=[(o1.pk, 1), (o2.pk, 1)])
    invoice = renewal_pay(actor=acme, quote=quote, auto_renew_next={o1.pk})

    # Then c1's balance paid, c1's invoice from acme, by acme's login
    assert quote.total == Decimal("20.00")
    assert invoice.customer_id == tenants.customers["c1"].pk
    assert invoice.number.startswith(tenants.resellers["acme"].invoice_prefix)
    assert invoice.created_by == "acme"
    assert Account.objects.get(pk=tenants.customers["c1"].pk).balance == Decimal("80.00")


def test_the_quote_service_answers_not_found_for_another_subtree(tenants):
    acme, west, other = (actor_for_user(tenants.users[name]) for name in ("acme", "west", "other"))
    o1, o9 = tenants.orders["o1"], tenants.orders["o9"]
    with pytest.raises(NotFound):
        renewal_quote(actor=west, items=[(o1.pk, 1)])  # its parent's customer
    with pytest.raises(NotFound):
        renewal_quote(actor=other, items=[(o1.pk, 1)])
    with pytest.raises(NotFound):
        renewal_quote(actor=acme, items=[(o9.pk, 1)])


# Through the panel -------------------------------------------------------------


def test_the_customer_page_offers_renew_per_order_and_a_batch(client, tenants):
    c1, o1 = tenants.customers["c1"], tenants.orders["o1"]
    page = text(signed_in(client, tenants, "acme").get(reverse("reseller-customer", args=[c1.pk])))
    assert f'action="{renew_url(c1)}"' in page
    assert "Renew selected" in page
    assert f'aria-label="Renew {o1.ref}"' in page
    assert f"{renew_url(c1)}?order={o1.pk}" in page


def test_a_reseller_renews_two_orders_from_the_customers_balance(client, tenants):
    # Given acme on the renewal page of c1's o1 and o2 (1 month each by default)
    c1, o1, o2 = tenants.customers["c1"], tenants.orders["o1"], tenants.orders["o2"]
    client = signed_in(client, tenants, "acme")
    page = client.get(renew_url(c1), {"order": [o1.pk, o2.pk]})
    body = text(page)
    assert "Renew 2 orders of Jane Doe" in body
    assert "Pay 20.00 USD" in body
    assert "Balance: 100.00 USD available" in body
    assert reverse("balance") not in body  # the customer tops up in its own panel, not here

    # When acme pays, switching o2's auto-renew on from the next cycle
    data = {**hidden_fields(page.content.decode()), "order": [o1.pk, o2.pk], "payment": "balance", "action": "pay"}
    response = client.post(renew_url(c1), {**data, f"auto_renew_{o1.pk}": "on"}, follow=True)

    # Then the invoice (acme's series) shows in the reseller panel, paid from c1's balance
    invoice = Invoice.objects.get(customer=c1)
    assert response.redirect_chain[-1][0] == reverse("reseller-invoice", args=[invoice.pk])
    assert f"Renewed 2 orders: 20.00 USD paid, invoice {invoice.number}." in text(response)
    assert invoice.number.startswith(tenants.resellers["acme"].invoice_prefix)
    assert money(tenants)[0] == Decimal("80.00")
    assert Order.objects.get(pk=o1.pk).expires_on > o1.expires_on
    # The payment's audit row names the reseller's login
    debit = AuditEvent.objects.get(action="ledger.renewal", target_id=c1.pk)
    assert debit.actor_label == "acme"
    assert debit.actor_id == tenants.users["acme"].pk
    # The customer gets the same notices as for its own renewal
    assert Notice.objects.filter(customer=c1, kind="renewal_succeeded").exists()


def test_the_pay_form_sent_twice_charges_once(client, tenants):
    c1, o1 = tenants.customers["c1"], tenants.orders["o1"]
    client = signed_in(client, tenants, "acme")
    data = renewal_form(client, c1, {"order": [o1.pk]})

    first = client.post(renew_url(c1), data)
    second = client.post(renew_url(c1), data)

    invoice = Invoice.objects.get(customer=c1)
    assert first["Location"] == second["Location"] == reverse("reseller-invoice", args=[invoice.pk])
    assert money(tenants)[:2] == (Decimal("90.00"), 1)


def test_a_colleague_renews_too_and_is_the_one_named(client, tenants):
    c1, o1 = tenants.customers["c1"], tenants.orders["o1"]
    colleague = member(reseller=tenants.resellers["acme"], username="acme2", password="pw")
    client.force_login(colleague)
    client.post(renew_url(c1), renewal_form(client, c1, {"order": [o1.pk]}))
    assert AuditEvent.objects.get(action="ledger.renewal", target_id=c1.pk).actor_label == "acme2"


def test_a_sub_resellers_customer_is_renewed_from_above(client, tenants):
    # acme's subtree includes west's c2 (balance 0.00): the page quotes it and says the balance is short
    c2, o4 = tenants.customers["c2"], tenants.orders["o4"]
    body = text(signed_in(client, tenants, "acme").get(renew_url(c2), {"order": [o4.pk]}))
    assert "Renew 1 order of Wes Tern" in body
    assert "The balance does not cover this renewal." in body


@pytest.mark.parametrize("who", ["west", "other", "owner"])
def test_outside_the_subtree_the_page_answers_404_and_charges_nothing(client, tenants, who):
    c1, o1 = tenants.customers["c1"], tenants.orders["o1"]
    acme = signed_in(client, tenants, "acme")
    data = renewal_form(acme, c1, {"order": [o1.pk]})
    before = money(tenants)
    client = signed_in(client, tenants, who)
    assert client.get(renew_url(c1), {"order": [o1.pk]}).status_code == 404
    assert client.post(renew_url(c1), data).status_code == 404
    assert money(tenants) == before


def test_an_order_of_another_customer_answers_404(client, tenants):
    # c2's order (acme's subtree, another customer) or another reseller's on c1's page: as if it did not exist
    c1, o1 = tenants.customers["c1"], tenants.orders["o1"]
    client = signed_in(client, tenants, "acme")
    before = money(tenants)
    for stranger in ("o4", "o9"):
        other = tenants.orders[stranger]
        assert client.get(renew_url(c1), {"order": [o1.pk, other.pk]}).status_code == 404
        data = {**renewal_form(client, c1, {"order": [o1.pk]}), "order": [o1.pk, other.pk]}
        assert client.post(renew_url(c1), data).status_code == 404
    assert money(tenants) == before


def test_a_reseller_switches_auto_renew_on_where_the_customer_cannot(client, tenants):
    # The lock binds the customer, not its reseller (SPEC "Auto-renewal")
    c1, o3 = tenants.customers["c1"], tenants.orders["o3"]
    Order.objects.filter(pk=o3.pk).update(auto_renew_locked=True)
    client = signed_in(client, tenants, "acme")
    data = renewal_form(client, c1, {"order": [o3.pk]})
    client.post(renew_url(c1), {**data, f"auto_renew_{o3.pk}": "on"})
    assert Order.objects.get(pk=o3.pk).auto_renew


def test_no_order_ticked_goes_back_to_the_customer(client, tenants):
    c1 = tenants.customers["c1"]
    response = signed_in(client, tenants, "acme").get(renew_url(c1), follow=True)
    assert response.redirect_chain[0][0] == reverse("reseller-customer", args=[c1.pk])
    assert "Tick at least one order to renew." in text(response)


def test_a_renewal_center_tab_is_not_taken_from_the_reseller_page(client, tenants):
    # all_in is the customer's renewal center: here it is no order at all
    c1 = tenants.customers["c1"]
    response = signed_in(client, tenants, "acme").get(renew_url(c1), {"all_in": "manual"})
    assert response.status_code == 302
    assert money(tenants)[1] == 0


def test_the_invoice_page_is_the_subtrees(client, tenants):
    c1, o1 = tenants.customers["c1"], tenants.orders["o1"]
    acme = signed_in(client, tenants, "acme")
    acme.post(renew_url(c1), renewal_form(acme, c1, {"order": [o1.pk]}))
    invoice = Invoice.objects.get(customer=c1)
    page = text(acme.get(reverse("reseller-invoice", args=[invoice.pk])))
    assert f"Invoice {invoice.number}" in page
    assert "Billed to: <strong>Jane Doe</strong>" in page
    for who in ("west", "other", "owner"):
        assert signed_in(client, tenants, who).get(reverse("reseller-invoice", args=[invoice.pk])).status_code == 404


def test_pay_by_the_customers_saved_card(client, tenants, stripe_on):
    # Given c1 has a saved card and no balance to speak of
    from payments.services import card_add
    from tenants.scope import Actor
    from tests.payments.test_cards import GOOD, tokenise

    c1, o2 = tenants.customers["c1"], tenants.orders["o2"]
    card_add(actor=Actor.system("test"), account_id=c1.pk, payment_method_id=tokenise(GOOD))
    client = signed_in(client, tenants, "acme")
    choices = {"order": [o2.pk], f"months_{o2.pk}": "12"}  # 100.00: the balance of 100.00 covers it, the card pays
    page = client.get(renew_url(c1), choices)
    assert "Card: visa •••• 4242" in text(page)

    # When acme pays o2's 12 months by card
    data = {**hidden_fields(page.content.decode()), **choices, "payment": "card", "action": "pay"}
    response = client.post(renew_url(c1), data, follow=True)

    # Then the card paid: the balance is where it was, and the invoice is c1's
    invoice = Invoice.objects.get(customer=c1)
    assert f"Renewed 1 order: 100.00 USD paid, invoice {invoice.number}." in text(response)
    assert Account.objects.get(pk=c1.pk).balance == Decimal("100.00")
