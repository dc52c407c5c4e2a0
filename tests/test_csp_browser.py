"""The pages work under the Content-Security-Policy in a real headless Chromium:
their scripts run and nothing is blocked. Chromium logs every violation to the
console ("... violates the following Content Security Policy directive ...",
frames included) and fires a securitypolicyviolation event; both are watched."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import expect

from notifications.models import Notice
from orders.models import Order
from payments.models import Card
from tenants.models import Customer
from tests.factories import CustomerFactory, member
from tests.payments.test_cards import GOOD

pytestmark = pytest.mark.django_db(transaction=True)

WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push(event.violatedDirective + " blocked " + (event.blockedURI || "inline") +
    " at " + event.sourceFile + ":" + event.lineNumber);
}, true);
"""
# Redoc draws Redocly's logo from their CDN and hides it when it does not load
# (redoc.standalone.js: onError); the policy blocks it on purpose.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
CUSTOMER_PAGES = ("orders", "renewals", "balance", "invoices", "messages", "settings", "cards", "api-token-page")
RESELLER_PAGES = ("customers", "preview", "failures", "resellers", "messages")


class Watched:
    """A page whose CSP violations are recorded, page after page."""

    def __init__(self, browser, base: str):
        self.base = base
        self.context = browser.new_context(viewport={"width": 1280, "height": 860})
        self.context.add_init_script(WATCH)
        self.page = self.context.new_page()
        self.seen: list[str] = []
        self.page.on("console", self._console)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.seen.append(f"console: {message.text}")

    def collect(self) -> None:
        """The current document's violation events (a document keeps its own)."""
        self.seen += [f"{self.page.url}: {v}" for v in self.page.evaluate("window.__cspViolations || []")]

    def visit(self, path: str, ready: str = "h1") -> None:
        """Open a page and wait until it shows ``ready`` (its script's work, if it has one)."""
        self.collect()
        response = self.page.goto(self.base + path)
        assert response.status == 200, (path, response.status)
        expect(self.page.locator(ready).first).to_be_visible()

    def sign_in(self, username: str, password: str) -> None:
        self.context.clear_cookies()
        self.visit(reverse("login"))
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", password)
        self.collect()
        self.page.click("button[type=submit]")
        self.page.wait_for_url(lambda url: reverse("login") not in url)

    def violations(self, *, allowed: tuple[str, ...] = ()) -> list[str]:
        self.collect()
        return [v for v in self.seen if not any(a in v for a in allowed)]


@pytest.fixture
def demo(live_server, browser, settings):
    # One process: forked sweep workers would share the live server's
    # PostgreSQL connections (renewals.sweep.run._in_parallel).
    settings.SWEEP_WORKERS = 1
    call_command("seed_demo", verbosity=0)
    call_command("run_renewals", verbosity=0)  # the night's notices: messages to open
    return Watched(browser, live_server.url)


def test_the_panels_main_pages_run_under_the_policy(demo):
    page = demo.page
    demo.sign_in("customer", "customer")
    jane = Customer.objects.get(ref="c001")
    orders = Order.objects.filter(customer=jane, status="active").order_by("expires_on")
    for name in CUSTOMER_PAGES:
        demo.visit(reverse(name))
    demo.visit(reverse("order-detail", args=[orders[0].pk]))
    # The renewal form's script (static/js/renew.js) runs: a new period gives a new estimate.
    period = f"select[name=months_{orders[0].pk}]"
    demo.visit(reverse("renew") + f"?order={orders[0].pk}", "#renew-form[data-enhanced=true]")
    page.select_option(period, index=1)
    expect(page.locator("#estimate")).to_contain_text("Update the prices to pay")
    page.select_option(period, index=0)  # the shortest period: the balance pays it
    demo.collect()
    page.click("button[value=quote]")
    expect(page.locator("#pay")).to_be_enabled()
    demo.collect()
    page.click("#pay")
    page.wait_for_url("**/invoices/*/")
    # The printable invoice's button (static/js/print.js) prints.
    demo.visit(page.url.removeprefix(demo.base) + "?print=1", "[data-print]")
    page.evaluate("window.print = function () { document.body.dataset.printed = 'yes'; }")
    page.click("[data-print]")
    expect(page.locator("body[data-printed=yes]")).to_have_count(1)

    demo.sign_in("reseller", "reseller")
    for name in RESELLER_PAGES:
        demo.visit(reverse(f"reseller-{name}"))
    demo.visit(reverse("reseller-customer", args=[jane.pk]))
    assert demo.violations() == []


def test_a_message_shows_the_mail_as_styled_under_the_policy(demo):
    demo.sign_in("customer", "customer")
    notice = Notice.objects.filter(customer__ref="c001").order_by("pk").first()
    demo.visit(reverse("message-detail", args=[notice.pk]), "iframe[sandbox]")
    mail = demo.page.frame_locator("iframe[sandbox]")
    # The mail's own style="" (notifications/base.html: the title is 20px).
    expect(mail.locator("h1")).to_have_css("font-size", "20px")
    assert demo.violations() == []


def test_adding_a_card_with_localstripe_runs_under_the_policy(live_server, browser, settings, stripe_on):
    settings.STRIPE_JS_URL = f"{stripe_on}/js.stripe.com/v3/"
    member(customer=CustomerFactory(), username="owner", password="pw")
    watched = Watched(browser, live_server.url)
    watched.sign_in("owner", "pw")
    # Stripe.js loaded and static/js/card_add.js mounted its card element.
    watched.visit(reverse("card-add"), "#card-element input[placeholder=number]")
    page = watched.page
    page.fill("#card-element input[placeholder=number]", GOOD)
    page.fill("#card-element input[placeholder=exp_month]", "12")
    page.fill("#card-element input[placeholder=exp_year]", "31")
    page.fill("#card-element input[placeholder=cvc]", "123")
    page.fill("#card-element input[placeholder=postal_code]", "10115")
    watched.collect()
    page.click("#save-card")  # Stripe.js calls localstripe (connect-src), then the form posts
    page.wait_for_url(f"{live_server.url}{reverse('cards')}")
    expect(page.locator(".messages")).to_contain_text("Saved visa •••• 4242.")
    assert Card.objects.get().last4 == "4242"
    assert watched.violations() == []


def test_the_admin_runs_under_the_policy(live_server, browser, settings):
    settings.ADMIN_OTP_REQUIRED = False  # the second factor's pages are tested with it
    call_command("seed_demo", verbosity=0)
    admin = get_user_model().objects.get(username="admin")
    watched = Watched(browser, live_server.url)
    page = watched.page
    watched.sign_in("admin", "admin")
    # A changelist's actions (admin/js/actions.js): ticking a row counts it.
    watched.visit(reverse("admin:orders_order_changelist"), "#changelist-form")
    page.locator("input.action-select").first.check()
    expect(page.locator(".action-counter")).to_contain_text("1 of")
    # The date widgets (admin/js/admin/DateTimeShortcuts.js, calendar.js): "Today" fills the date.
    watched.visit(reverse("admin:auth_user_change", args=[admin.pk]), "#id_date_joined_0")
    page.fill("#id_date_joined_0", "")
    shortcuts = page.locator("#id_date_joined_0 + .datetimeshortcuts")
    calendar = shortcuts.locator("a[id^=calendarlink]")
    calendar.click()
    expect(page.locator("#" + calendar.get_attribute("id").replace("link", "box"))).to_be_visible()
    shortcuts.get_by_text("Today").click()
    expect(page.locator("#id_date_joined_0")).not_to_have_value("")
    assert watched.violations() == []


def test_the_api_docs_run_under_their_policy(live_server, browser):
    member(customer=CustomerFactory(), username="owner", password="pw")
    watched = Watched(browser, live_server.url)
    watched.sign_in("owner", "pw")
    watched.visit(reverse("api-docs"), ".swagger-ui .opblock")  # Swagger UI read the schema
    watched.visit(reverse("api-redoc"), "[role=menuitem]")  # so did Redoc
    # The one thing blocked, and seen: the watch works.
    watched.page.wait_for_function(f"window.__cspViolations.some(v => v.includes({REDOC_LOGO!r}))")
    assert watched.violations(allowed=(REDOC_LOGO,)) == []
