"""A reseller renews a customer's orders in a real headless Chromium (SPEC
"Manual renewal": the reseller panel has the customer's renewal page, paid
from the customer's balance). The portal: tests/panels/conftest.py (acme
sells to Jane Doe, c1, balance 100.00: o1 basic 10.00 a month, o2 basic on
12 months at 100.00)."""

from decimal import Decimal

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from audit.models import AuditEvent
from balances.models import Account
from invoices.models import Invoice
from orders.models import Order
from tests.panels.test_browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_reseller_renews_two_of_a_customers_orders_from_its_balance(live_server, browser, tenants):
    c1, o1, o2 = (tenants.customers["c1"], tenants.orders["o1"], tenants.orders["o2"])
    page = sign_in(browser, live_server.url, "acme")

    # From the customer's page: tick two orders, "Renew selected"
    page.click("text=Jane Doe")
    page.check(f"input[aria-label='Renew {o1.ref}']")
    page.check(f"input[aria-label='Renew {o2.ref}']")
    page.click("text=Renew selected")
    expect(page.locator("h1")).to_have_text("Renew 2 orders of Jane Doe")
    expect(page.locator("#quote-total")).to_have_text("20.00 USD")  # 1 month each by default

    # o1 for 3 months: the prices are updated, then the total is 27.00 + 10.00
    page.wait_for_selector("#renew-form[data-enhanced=true]")
    page.select_option(f"select[name=months_{o1.pk}]", "3")
    page.click("button[value=quote]")
    expect(page.locator("#quote-total")).to_have_text("37.00 USD")
    expect(page.locator("#pay")).to_have_text("Pay 37.00 USD")

    # Pay from the customer's balance: the invoice, in the reseller's panel
    page.check("input[name=payment][value=balance]")
    page.click("#pay")
    page.wait_for_url("**/reseller/invoices/*/")
    invoice = Invoice.objects.get(customer=c1)
    expect(page.locator(".messages")).to_contain_text(f"Renewed 2 orders: 37.00 USD paid, invoice {invoice.number}.")
    expect(page.locator("h1")).to_have_text(f"Invoice {invoice.number}")
    expect(page.locator("main")).to_contain_text("Total paid")

    # The customer's balance went down, the orders moved on, the audit names acme's login
    assert Account.objects.get(pk=c1.pk).balance == Decimal("63.00")
    assert Order.objects.get(pk=o1.pk).expires_on > o1.expires_on
    assert Order.objects.get(pk=o2.pk).expires_on > o2.expires_on
    assert AuditEvent.objects.get(action="ledger.renewal", target_id=c1.pk).actor_label == "acme"

    # Back on the customer's page the balance says so
    page.click("text=Jane Doe")
    expect(page.locator("dl.facts")).to_contain_text("63.00 USD")


def test_another_subtrees_renewal_page_is_not_found(live_server, browser, tenants):
    c1, o1 = tenants.customers["c1"], tenants.orders["o1"]
    page = sign_in(browser, live_server.url, "other")
    response = page.goto(f"{live_server.url}{reverse('reseller-renew', args=[c1.pk])}?order={o1.pk}")
    assert response.status == 404
