"""CSRF on the panels' POSTs: a page on another site that makes a signed-in
customer's or reseller's browser post a form (renew and pay, top up, change
a card, flip a switch, lock an order, create an API token, change the
password, sign out) is refused with 403 before the view runs: nothing
changes, nothing reaches Stripe. The same form with the page's CSRF token
goes through.

Every URL of the panels is classified here, so a new page that takes a POST
fails this suite until it has a row in POSTS (or is shown to be GET-only)."""

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import stripe
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from audit.models import AuditEvent
from balances.models import Account, LedgerEntry
from calendars.models import Feed
from invoices.models import Invoice
from logins.selectors import token_of
from logins.services import token_issue
from notifications.models import Notice
from orders.models import Order
from payments.models import Card, PaymentAttempt
from tenants.models import Customer, Reseller
from tests.helpers import hidden_fields, renewal_form
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db

CSRF_REFUSED = b"CSRF verification failed"
NEW_PASSWORD = "Renewal-portal-2031"


# --- Stripe: configured, but every request recorded and refused ---


@pytest.fixture
def stripe_calls(settings, monkeypatch):
    """Card payments configured, with a Stripe that records each request and
    refuses it as invalid (Stripe did nothing): a POST refused for CSRF must
    leave this list empty; its control shows the form would have reached
    Stripe."""
    settings.STRIPE_SECRET_KEY = "sk_test_csrf"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_csrf"
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # never reached: the request is answered below
    calls = []

    def request(self, method, url, headers, post_data=None):
        calls.append(f"{method.upper()} {url.split('?')[0]}")
        body = b'{"error": {"type": "invalid_request_error", "message": "refused by the test"}}'
        return body, 400, {"Content-Type": "application/json", "Request-Id": "req_csrf"}

    monkeypatch.setattr(stripe.RequestsClient, "request", request)
    return calls


@pytest.fixture
def portal(tenants, stripe_calls):
    """The panels' three tenants, the customer c1 with two saved cards (known
    brand and last 4, so no page asks Stripe about them) and an email for the
    password reset."""
    c1 = tenants.customers["c1"]
    Account.objects.filter(pk=c1.pk).update(stripe_customer_id="cus_csrf", stripe_payment_method_id="pm_csrf_1")
    for n, default in ((1, True), (2, False)):
        Card.objects.create(
            account_id=c1.pk,
            stripe_payment_method_id=f"pm_csrf_{n}",
            brand="visa",
            last4=f"424{n}",
            exp_month=12,
            exp_year=2040,
            is_default=default,
        )
    get_user_model().objects.filter(pk=tenants.users["owner"].pk).update(email="jane@example.test")
    return tenants


def state() -> dict:
    """Everything a forged POST could move: money, orders, switches, cards,
    tokens, passwords, the audit log."""
    return {
        "accounts": list(Account.objects.order_by("pk").values_list("pk", "balance", "auto_renew", "renewal_day")),
        "ledger": LedgerEntry.objects.count(),
        "invoices": Invoice.objects.count(),
        "attempts": PaymentAttempt.objects.count(),
        "orders": list(
            Order.objects.order_by("pk").values_list(
                "pk", "expires_on", "status", "auto_renew", "auto_renew_locked", "do_not_renew", "payment_source"
            )
        ),
        "customers": list(Customer.objects.order_by("pk").values_list("pk", "allow_auto_renew")),
        "cards": list(Card.objects.order_by("pk").values_list("pk", "is_default")),
        "tokens": [token_of(user) is not None for user in get_user_model().objects.order_by("pk")],
        "passwords": list(get_user_model().objects.order_by("pk").values_list("pk", "password")),
        "messages_read": Notice.objects.filter(read_at__isnull=False).count(),
        "audit": AuditEvent.objects.count(),
        "mail": len(mail.outbox),
    }


# --- The POSTs: who posts what, and what it does when it goes through ---


def form(client: Client, page: str, **fields) -> dict:
    """The data a browser posts from ``page``: its CSRF token, its one-time
    form token if it has one (a paying form, panels.views.customer.FORM_TOKEN)
    and ``fields``."""
    response = client.get(page)
    assert response.status_code == 200, (page, response.status_code)
    hidden = hidden_fields(response.content.decode())
    tokens = {name: hidden[name][0] for name in ("csrfmiddlewaretoken", "form_token") if name in hidden}
    return {**tokens, **fields}


def order(t, ref: str) -> Order:
    return Order.objects.get(ref=ref)


def account(t, ref: str) -> Account:
    return Account.objects.get(customer__ref=ref)


def cards(t) -> dict:
    return {card.stripe_payment_method_id: card for card in Card.objects.all()}


def signed_out(client: Client) -> bool:
    return client.get(reverse("orders")).status_code == 302


def password_is(t, username: str, password: str) -> bool:
    return get_user_model().objects.get(username=username).check_password(password)


def reset_link(t, client: Client) -> str:
    """The password reset's set-password page, as the emailed link opens it."""
    user = get_user_model().objects.get(username="owner")  # with its email: the link's token hashes it
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    opened = client.get(reverse("password_reset_confirm", args=[uid, default_token_generator.make_token(user)]))
    assert opened.status_code == 302, opened.status_code
    return opened["Location"]


@dataclass(frozen=True)
class Post:
    """One form of the panels: ``prepare(tenants, client)`` sets the scene and
    returns (URL, data as the page would post it, CSRF token included);
    ``done(tenants, client)`` says whether it took effect (None: it cannot
    without a real Stripe, and ``stripe`` shows it got that far)."""

    route: str
    user: str | None  # the login that posts (tests/panels/conftest.py), None: signed out
    prepare: Callable
    done: Callable | None
    stripe: bool = False  # the form, sent with its token, reaches Stripe
    answers: int = 302  # the status of the form sent with its token


def _renew(t, c):
    data = renewal_form(c, {"order": [order(t, "o1").pk]})
    return reverse("renew"), {**data, "action": "pay", "payment": "balance"}


def _page_form(c, url: str, choices: dict) -> dict:
    """A renewal page's pay form (the reseller's or Our orders') for these choices."""
    page = c.get(url, choices)
    assert page.status_code == 200, page.status_code
    return {**hidden_fields(page.content.decode()), **choices, "action": "pay", "payment": "balance"}


def _reseller_renew(t, c):
    url = reverse("reseller-renew", args=[t.customers["c1"].pk])
    return url, _page_form(c, url, {"order": [order(t, "o1").pk]})


def _our_renew(t, c):
    # c1 (held with acme) made west's own account: west's staff renew it under "Our orders".
    Customer.objects.filter(ref="c1").update(owner_reseller=t.resellers["west"])
    url = reverse("reseller-our-renew")
    return url, _page_form(c, url, {"order": [order(t, "o1").pk]})


def _renewed(t, c) -> bool:
    return account(t, "c1").balance < 100 and Invoice.objects.filter(customer__ref="c1").exists()


def _order_switch(field, value):
    def prepare(t, c):
        url = reverse("order-detail", args=[order(t, "o1").pk])
        return url, form(c, url, field=field, value=value)

    return prepare


def _reseller_action(action, order_before=None, customer_before=None):
    def prepare(t, c):
        Order.objects.filter(ref="o1").update(**(order_before or {}))
        Customer.objects.filter(ref="c1").update(**(customer_before or {}))
        url = reverse("reseller-customer", args=[t.customers["c1"].pk])
        return url, form(c, url, action=action, order=str(order(t, "o1").pk), ref="o1")

    return prepare


def _webhook_disable(t, c):
    from tests.webhooks.conftest import staff
    from webhooks.services import endpoint_create

    acme = staff(t.resellers["acme"])
    endpoint = endpoint_create(actor=acme, url="https://hooks.example.com/p", events=["balance.low"])
    url = reverse("reseller-webhook", args=[endpoint.pk])
    return url, form(c, url, action="disable")


def _with_token(t, c):
    token_issue(user=t.users["owner"])
    return reverse("api-token-page"), form(c, reverse("api-token-page"), action="revoke")


def _password_reset_confirm(t, c):
    url = reset_link(t, c)
    return url, form(c, url, new_password1=NEW_PASSWORD, new_password2=NEW_PASSWORD)


POSTS = [
    Post(
        "renew",
        "owner",
        _renew,
        lambda t, c: account(t, "c1").balance < 100 and Invoice.objects.filter(customer__ref="c1").exists(),
    ),
    Post(
        "balance",
        "owner",
        lambda t, c: (reverse("balance"), form(c, reverse("balance"), amount="20.00")),
        lambda t, c: PaymentAttempt.objects.filter(account__customer__ref="c1").exists(),
        stripe=True,
    ),
    Post(
        "cards",
        "owner",
        lambda t, c: (reverse("cards"), form(c, reverse("cards"), action="default", card=cards(t)["pm_csrf_2"].pk)),
        lambda t, c: cards(t)["pm_csrf_2"].is_default,
    ),
    Post(
        "cards",
        "owner",
        lambda t, c: (reverse("cards"), form(c, reverse("cards"), action="remove", card=cards(t)["pm_csrf_2"].pk)),
        lambda t, c: "pm_csrf_2" not in cards(t),
        stripe=True,  # the card is detached at Stripe first
    ),
    Post(
        "card-add",
        "owner",
        # The add page itself asks Stripe for a SetupIntent: the token from the cards page, same session.
        lambda t, c: (reverse("card-add"), form(c, reverse("cards"), setup_intent="seti_csrf")),
        None,  # no card is saved without a SetupIntent Stripe confirmed; stripe=True: it was asked
        stripe=True,
    ),
    Post("order-detail", "owner", _order_switch("auto_renew", "off"), lambda t, c: not order(t, "o1").auto_renew),
    Post("order-detail", "owner", _order_switch("do_not_renew", "on"), lambda t, c: order(t, "o1").do_not_renew),
    Post(
        "order-detail",
        "owner",
        _order_switch("payment_source", "card"),
        lambda t, c: order(t, "o1").payment_source == "card",
    ),
    Post(
        "settings",
        "owner",
        lambda t, c: (reverse("settings"), form(c, reverse("settings"), auto_renew="off")),
        lambda t, c: not account(t, "c1").auto_renew,
    ),
    Post(
        "settings",
        "owner",
        lambda t, c: (reverse("settings"), form(c, reverse("settings"), renewal_day="15")),
        lambda t, c: account(t, "c1").renewal_day == 15,
    ),
    Post(
        "renewals",
        "owner",
        lambda t, c: (
            reverse("renewals") + "?tab=auto",
            form(c, reverse("renewals") + "?tab=auto", scope="all", move="to-manual"),
        ),
        lambda t, c: not order(t, "o1").auto_renew,
    ),
    Post(
        "api-token-page",
        "owner",
        lambda t, c: (reverse("api-token-page"), form(c, reverse("api-token-page"), action="create")),
        lambda t, c: token_of(t.users["owner"]) is not None,
        answers=200,  # the page with the new key, shown once
    ),
    Post("api-token-page", "owner", _with_token, lambda t, c: token_of(t.users["owner"]) is None),
    Post(
        "calendar-page",
        "owner",
        lambda t, c: (reverse("calendar-page"), form(c, reverse("calendar-page"))),
        lambda t, c: Feed.objects.filter(customer__ref="c1", rotated_at__isnull=False).exists(),
    ),
    Post(
        "reseller-webhooks",
        "acme",
        lambda t, c: (
            reverse("reseller-webhooks"),
            form(c, reverse("reseller-webhooks"), url="https://hooks.example.com/p", events="order.renewed"),
        ),
        lambda t, c: Endpoint.objects.filter(reseller__ref="acme").exists(),
        answers=200,  # the page with the new endpoint's secret, shown once
    ),
    Post("reseller-webhook", "acme", _webhook_disable, lambda t, c: not Endpoint.objects.get().enabled),
    Post("reseller-renew", "acme", _reseller_renew, _renewed),
    Post("reseller-our-renew", "west", _our_renew, _renewed),
    Post("reseller-customer", "acme", _reseller_action("lock"), lambda t, c: order(t, "o1").auto_renew_locked),
    Post(
        "reseller-customer",
        "acme",
        _reseller_action("unlock", order_before={"auto_renew_locked": True}),
        lambda t, c: not order(t, "o1").auto_renew_locked,
    ),
    Post("reseller-customer", "acme", _reseller_action("auto_renew_off"), lambda t, c: not order(t, "o1").auto_renew),
    Post(
        "reseller-customer",
        "acme",
        _reseller_action("auto_renew_on", order_before={"auto_renew": False}),
        lambda t, c: order(t, "o1").auto_renew,
    ),
    Post(
        "reseller-customer",
        "acme",
        _reseller_action("forbid"),
        lambda t, c: not Customer.objects.get(ref="c1").allow_auto_renew,
    ),
    Post(
        "reseller-customer",
        "acme",
        _reseller_action("allow", customer_before={"allow_auto_renew": False}),
        lambda t, c: Customer.objects.get(ref="c1").allow_auto_renew,
    ),
    Post(
        "reseller-customer",
        "acme",
        _reseller_action("exempt"),
        lambda t, c: Customer.objects.get(ref="c1").retry_exempt,
    ),
    Post(
        "reseller-retry-policy",
        "acme",
        lambda t, c: (
            reverse("reseller-retry-policy"),
            form(
                c,
                reverse("reseller-retry-policy"),
                reseller=str(t.resellers["acme"].pk),
                mode="days",
                days="7,3,1,0",
                last_chance_day="1",
            ),
        ),
        lambda t, c: Reseller.objects.get(ref="acme").retry_days == [7, 3, 1, 0],
    ),
    Post(
        "password_change",
        "owner",
        lambda t, c: (
            reverse("password_change"),
            form(
                c,
                reverse("password_change"),
                old_password="pw",
                new_password1=NEW_PASSWORD,
                new_password2=NEW_PASSWORD,
            ),
        ),
        lambda t, c: password_is(t, "owner", NEW_PASSWORD),
    ),
    Post(
        "logout",
        "owner",
        lambda t, c: (reverse("logout"), form(c, reverse("orders"))),
        lambda t, c: signed_out(c),
    ),
    Post(
        "login",
        None,
        lambda t, c: (reverse("login"), form(c, reverse("login"), username="owner", password="pw")),
        lambda t, c: not signed_out(c),
    ),
    Post(
        "password_reset",
        None,
        lambda t, c: (reverse("password_reset"), form(c, reverse("password_reset"), email="jane@example.test")),
        lambda t, c: len(mail.outbox) == 1,
    ),
    Post(
        "password_reset_confirm",
        None,
        _password_reset_confirm,
        lambda t, c: password_is(t, "owner", NEW_PASSWORD),
    ),
]


def _ids(posts):
    seen: dict[str, int] = {}
    for post in posts:
        seen[post.route] = seen.get(post.route, 0) + 1
        yield f"{post.route}-{seen[post.route]}"


def client_for(tenants, post: Post) -> Client:
    client = Client(enforce_csrf_checks=True)
    if post.user:
        client.force_login(tenants.users[post.user])
    return client


def foreign_token() -> str:
    """A valid token of another browser (the forger's own session)."""
    return form(Client(enforce_csrf_checks=True), reverse("login"))["csrfmiddlewaretoken"]


@pytest.mark.parametrize("forged", ["without a token", "with the forger's token"])
@pytest.mark.parametrize("post", POSTS, ids=list(_ids(POSTS)))
def test_a_post_without_the_pages_csrf_token_is_refused_and_changes_nothing(portal, stripe_calls, post, forged):
    # given: the signed-in user's browser on the form's page (it has the CSRF cookie)
    client = client_for(portal, post)
    url, data = post.prepare(portal, client)
    took_effect = post.done or (lambda t, c: False)
    assert not took_effect(portal, client)
    before = state()

    # when: another site makes that browser post the same form, lacking the page's token
    bad = {key: value for key, value in data.items() if key != "csrfmiddlewaretoken"}
    if forged != "without a token":
        bad["csrfmiddlewaretoken"] = foreign_token()
    response = client.post(url, bad)

    # then: refused before the view runs: nothing changed, Stripe never asked
    assert response.status_code == 403
    assert CSRF_REFUSED in response.content
    assert state() == before
    assert stripe_calls == []
    assert not took_effect(portal, client)

    # and the control: the same form with the page's token goes through
    response = client.post(url, data)
    assert response.status_code == post.answers, response.status_code
    assert post.done is None or post.done(portal, client)
    assert bool(stripe_calls) == post.stripe, stripe_calls


# --- Every URL outside admin and the API: a tested POST, GET-only, or exempt ---

# Pages that only show: they never read request.POST or request.method.
GET_ONLY = {
    "home",
    "orders",
    "invoices",
    "invoice-detail",
    "invoice-pdf",  # the invoice as a PDF download (invoices/pdf.py)
    "messages",
    "message-detail",  # opening marks it read: a GET's side effect, not a form
    "reseller-customers",
    "reseller-preview",
    "reseller-failures",
    "reseller-resellers",
    "reseller-messages",
    "reseller-message-detail",
    "reseller-invoice",
    "reseller-our-orders",
    "reseller-our-invoice",
    "reseller-invoice-pdf",
    "reseller-our-invoice-pdf",
    "password_change_done",
    "password_reset_done",
    "password_reset_complete",
    "healthz",
    "healthz-live",
    "calendar-feed",  # public: the secret in its URL is the credential (calendars/views.py)
}
# Exempt from CSRF, and why.
CSRF_EXEMPT = {"stripe-webhook": "no session, no cookie: Stripe signs the body (payments.webhooks)"}
# Django admin (platform staff; its views are csrf_protect'ed by the admin
# site) and the REST API (DRF exempts its views from the middleware and
# enforces CSRF in SessionAuthentication instead: tests/api/test_csrf.py)
# are outside this table; the exemption check below covers admin too.
OUTSIDE = ("admin/", "api/")


def routes():
    """(route, name, view) of every URL the portal serves."""

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern), pattern.name, pattern.callback

    return list(walk(get_resolver().url_patterns, ""))


def takes_post(view) -> bool:
    """Whether a view handles a POST: a class-based view with ``post``, or a
    function whose code reads request.POST or request.method."""
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        return callable(getattr(view_class, "post", None))
    source = inspect.getsource(inspect.unwrap(view))
    return "POST" in source or "request.method" in source


def test_every_page_that_takes_a_post_has_its_csrf_test():
    panel_routes = [(route, name, view) for route, name, view in routes() if not route.startswith(OUTSIDE)]
    tested = {post.route for post in POSTS}
    unclassified = sorted(
        f"{route} ({name})" for route, name, _ in panel_routes if name not in tested | GET_ONLY | set(CSRF_EXEMPT)
    )
    assert unclassified == [], "a new page: add its POSTs to POSTS, or it to GET_ONLY"
    # The check must see the POSTs it knows of, or it could not see a new one.
    assert sorted(name for _, name, view in panel_routes if name in tested and not takes_post(view)) == []
    assert sorted(name for _, name, view in panel_routes if name in GET_ONLY and takes_post(view)) == []
    assert {name for _, name, _ in panel_routes} >= tested | GET_ONLY | set(CSRF_EXEMPT)


def test_no_view_is_exempt_from_csrf_but_the_webhook_and_the_api():
    exempt = sorted(
        f"{route} ({name})"
        for route, name, view in routes()
        if getattr(view, "csrf_exempt", False) and name not in CSRF_EXEMPT and not route.startswith("api/")
    )
    assert exempt == []


@pytest.mark.parametrize("name", sorted(GET_ONLY - {"healthz", "healthz-live"}))
def test_a_get_only_page_refuses_a_forged_post_too(portal, name):
    """Even a page that ignores POSTs gets none past the middleware."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(portal.users["acme" if name.startswith("reseller-") else "owner"])
    args = {
        "invoice-detail": [1],
        "message-detail": [1],
        "reseller-message-detail": [1],
        "reseller-invoice": [1],
        "reseller-our-invoice": [1],
        "invoice-pdf": [1],
        "reseller-invoice-pdf": [1],
        "reseller-our-invoice-pdf": [1],
        "calendar-feed": ["A" * 43],
    }.get(name, [])
    response = client.post(reverse(name, args=args))
    assert response.status_code == 403
    assert CSRF_REFUSED in response.content
