"""The security headers on a representative set of pages: the strict
Content-Security-Policy everywhere (settings.CONTENT_SECURITY_POLICY), widened
only where a page needs it (core/csp.py), and X-Frame-Options,
nosniff, Referrer-Policy and Cross-Origin-Opener-Policy."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from core.csp import stripe_sources
from tests.factories import CustomerFactory, OrderFactory, member

STRICT = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:"},
    "object-src": {"'none'"},
    "base-uri": {"'self'"},
    "form-action": {"'self'"},
    "frame-ancestors": {"'none'"},
}
REAL_STRIPE = {"https://js.stripe.com", "https://hooks.stripe.com", "https://api.stripe.com"}


def policy(response) -> dict[str, set[str]]:
    header = response["Content-Security-Policy"]
    directives = [d.split() for d in header.split(";") if d.strip()]
    return {d[0]: set(d[1:]) for d in directives}


def widened(**extra: set[str]) -> dict[str, set[str]]:
    """STRICT plus sources for some directives (``script_src=`` for script-src)."""
    result = {k: set(v) for k, v in STRICT.items()}
    for name, sources in extra.items():
        directive = name.replace("_", "-")
        result[directive] = result.get(directive, set()) | sources
    return result


def assert_other_headers(response) -> None:
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.fixture
def logins(db, stripe_on, settings):
    # The admin's second factor is another page's concern; here the admin
    # pages themselves answer (staff.otp.otp_required).
    settings.ADMIN_OTP_REQUIRED = False
    customer = CustomerFactory()
    order = OrderFactory(customer=customer)
    return {
        "customer": member(customer=customer, username="owner", password="pw"),
        "reseller": member(reseller=customer.reseller, username="staff", password="pw"),
        "admin": get_user_model().objects.create_superuser("root", "root@example.test", "pw"),
        "order": order,
    }


def pages(logins):
    """(who is signed in, url) of a representative page of each kind."""
    order = logins["order"]
    return [
        (None, reverse("login")),
        (None, reverse("password_reset")),
        ("customer", reverse("orders")),
        ("customer", reverse("order-detail", args=[order.pk])),
        ("customer", reverse("renew") + f"?order={order.pk}"),
        ("customer", reverse("balance")),
        ("customer", reverse("messages")),
        ("customer", reverse("cards")),
        ("reseller", reverse("reseller-customers")),
        ("reseller", reverse("reseller-customer", args=[order.customer_id])),
        ("reseller", reverse("reseller-preview")),
        ("admin", reverse("admin:index")),
        ("admin", reverse("admin:orders_order_changelist")),
        ("admin", reverse("admin:orders_order_change", args=[order.pk])),
        ("customer", reverse("api-schema")),
        ("customer", "/api/orders/"),
        (None, reverse("healthz-live")),
    ]


def get(client, logins, who, url):
    client.logout()
    if who:
        client.force_login(logins[who])
    response = client.get(url)
    assert response.status_code == 200, (who, url, response.status_code)
    return response


def test_every_page_has_the_strict_policy_and_the_other_headers(client, logins):
    for who, url in pages(logins):
        response = get(client, logins, who, url)
        assert policy(response) == STRICT, url
        assert_other_headers(response)


def test_the_add_card_page_alone_allows_localstripe(client, logins, stripe_on, settings):
    settings.STRIPE_JS_URL = f"{stripe_on}/js.stripe.com/v3/"
    response = get(client, logins, "customer", reverse("card-add"))
    assert policy(response) == widened(script_src={stripe_on}, connect_src={"'self'", stripe_on})
    assert_other_headers(response)
    for who, url in pages(logins):
        assert stripe_on not in get(client, logins, who, url)["Content-Security-Policy"], url


def test_the_add_card_page_alone_allows_stripe(client, logins, settings):
    settings.STRIPE_JS_URL = ""  # the real Stripe.js (the server still talks to localstripe)
    response = get(client, logins, "customer", reverse("card-add"))
    assert '<script src="https://js.stripe.com/v3/">' in response.content.decode()
    assert policy(response) == widened(
        script_src={"https://js.stripe.com"},
        frame_src={"https://js.stripe.com", "https://hooks.stripe.com"},
        connect_src={"'self'", "https://api.stripe.com"},
    )
    for who, url in pages(logins):
        header = get(client, logins, who, url)["Content-Security-Policy"]
        assert not any(origin in header for origin in REAL_STRIPE), url


@pytest.mark.parametrize(
    ("js_url", "api_base", "expected"),
    [
        (
            "",
            "",
            {
                "script-src": ["https://js.stripe.com"],
                "frame-src": ["https://js.stripe.com", "https://hooks.stripe.com"],
                "connect-src": ["'self'", "https://api.stripe.com"],
            },
        ),
        (
            "http://127.0.0.1:8420/js.stripe.com/v3/",
            "http://127.0.0.1:8420",
            {"script-src": ["http://127.0.0.1:8420"], "connect-src": ["'self'", "http://127.0.0.1:8420"]},
        ),
        (
            "http://js.test:81/v3/",
            "http://api.test:82/v1",
            {"script-src": ["http://js.test:81"], "connect-src": ["'self'", "http://js.test:81", "http://api.test:82"]},
        ),
    ],
)
def test_stripe_sources_follow_the_settings(settings, js_url, api_base, expected):
    settings.STRIPE_JS_URL, settings.STRIPE_API_BASE = js_url, api_base
    assert stripe_sources() == expected


def test_the_api_docs_allow_inline_styles_but_no_inline_script(client, logins):
    docs_policy = widened(style_src={"'unsafe-inline'"}, worker_src={"'self'", "blob:"})
    for url in (reverse("api-docs"), reverse("api-redoc")):
        response = get(client, logins, "customer", url)
        assert policy(response) == docs_policy, url
        assert_other_headers(response)
        assert "<script>" not in response.content.decode()  # every script is a file of this origin
    # Swagger UI's start-up script is a file, served as JavaScript.
    script = get(client, logins, "customer", reverse("api-docs") + "?script=")
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()
