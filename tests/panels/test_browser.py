"""The main flows of the panels in a real headless Chromium (Debian's, driven
by Playwright) against a live server."""

import os
import pathlib

import pytest
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import expect

from orders.models import Order

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(browser, base: str, username: str, password: str = "pw"):
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.goto(f"{base}{reverse('login')}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def test_a_customer_renews_three_orders_with_three_periods_from_the_balance(live_server, browser, tenants):
    o1, o2, o3 = (tenants.orders[ref] for ref in ("o1", "o2", "o3"))
    page = sign_in(browser, live_server.url, "owner")
    assert page.url.endswith(reverse("orders"))
    for ref in ("o1", "o2", "o3"):
        page.check(f"input[aria-label='Renew {ref}']")
    page.click("text=Renew selected")
    # The form's script must be listening before a period changes (it marks the form when it is).
    page.wait_for_selector("#renew-form[data-enhanced=true]")
    page.select_option(f"select[name=months_{o1.pk}]", "3")
    expect(page.locator("#pay")).to_be_disabled()  # the shown price is stale until the prices are updated
    expect(page.locator("#estimate")).to_contain_text("Update the prices to pay")
    page.select_option(f"select[name=months_{o2.pk}]", "1")
    page.select_option(f"select[name=months_{o3.pk}]", "12")
    page.click("button[value=quote]")
    expect(page.locator("#quote-total")).to_have_text("52.00 USD")  # 27.00 + 10.00 + 15.00
    page.click("#pay")
    page.wait_for_url("**/invoices/*/")
    assert "Renewed 3 orders: 52.00 USD paid" in page.inner_text(".messages")
    assert Order.objects.get(pk=o1.pk).expires_on > o1.expires_on


def test_a_customer_switches_auto_renew_off_and_on(live_server, browser, tenants):
    o1 = tenants.orders["o1"]
    page = sign_in(browser, live_server.url, "owner")
    page.goto(f"{live_server.url}{reverse('order-detail', args=[o1.pk])}")
    page.click("#toggle-auto-renew")
    assert "Auto-renew is now off." in page.inner_text(".messages")
    assert page.inner_text("#auto-renew-state") == "off"
    assert "Auto-renew is switched off for this order." in page.inner_text("#outlook")
    page.click("#toggle-auto-renew")
    assert page.inner_text("#auto-renew-state") == "on"
    assert Order.objects.get(pk=o1.pk).auto_renew


def test_a_reseller_locks_a_switch_and_the_customer_sees_it_locked(live_server, browser, tenants):
    o1, c1 = tenants.orders["o1"], tenants.customers["c1"]
    reseller = sign_in(browser, live_server.url, "acme")
    assert reseller.url.endswith(reverse("reseller-customers"))
    reseller.click("text=Jane Doe")
    reseller.click(f"button[aria-label^='Lock the auto-renew switch of {o1.ref}']")
    assert "the customer can't change its auto-renew switch" in reseller.inner_text(".messages")
    assert Order.objects.get(pk=o1.pk).auto_renew_locked
    customer = sign_in(browser, live_server.url, "owner")
    customer.goto(f"{live_server.url}{reverse('order-detail', args=[o1.pk])}")
    assert "Your provider has locked this switch" in customer.inner_text("#switch-blocked")
    assert customer.locator("#toggle-auto-renew").count() == 0
    assert c1.pk  # the lock is the reseller's, on this customer's order


def test_a_reseller_previews_tonights_sweep(live_server, browser, tenants):
    page = sign_in(browser, live_server.url, "acme")
    page.click("text=Tonight's sweep")
    text = page.inner_text("main")
    assert "This is a preview: nothing is charged" in text
    assert "Wes Tern" in text  # a sub-reseller's customer, whose batch will fail
    assert "Will fail" in text
    assert "Short by 10.00 USD" in text
    assert "Olga Other" not in text  # another reseller's customer


SCREENS = {
    "customer": [
        ("customer-orders", "orders", {}),
        ("customer-renewals", "renewals", {"tab": "auto"}),
        ("customer-balance", "balance", {}),
        ("customer-messages", "messages", {}),
    ],
    "reseller": [
        ("reseller-customers", "reseller-customers", {}),
        ("reseller-preview", "reseller-preview", {}),
        ("reseller-failures", "reseller-failures", {}),
    ],
}


def test_the_main_pages_of_the_demo_render_in_the_browser(live_server, browser, tmp_path):
    """Also writes the README's screenshots when SCREENSHOTS_DIR is set
    (docs/screenshots/)."""
    call_command("seed_demo", verbosity=0)
    out = pathlib.Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    page = sign_in(browser, live_server.url, "customer", "customer")

    def shot(name, path):
        page.goto(f"{live_server.url}{path}")
        assert page.locator("h1").count() == 1, name
        page.screenshot(path=str(out / f"{name}.png"))  # the first screenful, as a visitor sees it

    def screens(who):
        for name, url, query in SCREENS[who]:
            shot(name, reverse(url) + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""))

    screens("customer")
    first = Order.objects.filter(customer__ref="c001", status="active").order_by("expires_on").first()
    shot("customer-order", reverse("order-detail", args=[first.pk]))
    batch = Order.objects.filter(customer__ref="c001", status="active").order_by("expires_on")[:3]
    shot("customer-renew", reverse("renew") + "?" + "&".join(f"order={o.pk}" for o in batch))
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    shot("customer-orders-phone", reverse("orders"))
    page = sign_in(browser, live_server.url, "reseller", "reseller")
    screens("reseller")
    jane = Order.objects.filter(customer__ref="c001").values_list("customer_id", flat=True).first()
    shot("reseller-customer", reverse("reseller-customer", args=[jane]))
    assert len(list(out.glob("*.png"))) == len(SCREENS["customer"]) + len(SCREENS["reseller"]) + 4
