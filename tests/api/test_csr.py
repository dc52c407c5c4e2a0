"""SSL renewals over the API: each item of POST /api/quotes/ and
POST /api/renewals/ may carry `csr`; an order whose category asks for one is
refused without it, or with a bad one (400, the code, nothing charged), and
renewed with a good one, kept for the reissue hook.

The portal (tests/panels/conftest.py): c1 (logins owner and colleague) has
o3, a 12-month certificate (15.00), here for shop.example.com in a category
that asks for a CSR, and o1, a hosting order; outsider is c9's login."""

import pytest

from catalog.models import Category
from invoices.models import Invoice
from orders.models import Order
from renewals.models import LifecycleEvent, RenewalCsr, Transition
from tests.renewals.conftest import snapshot_db  # noqa: F401 - the "nothing was written" fixture
from tests.renewals.test_csr import DOMAIN, GARBAGE, make_csr, tampered_csr

QUOTES = "/api/quotes/"
RENEWALS = "/api/renewals/"


@pytest.fixture
def ssl(tenants):
    Category.objects.filter(ref="ssl").update(renewal_needs_csr=True)
    Order.objects.filter(ref="o3").update(domain=DOMAIN)
    return tenants


@pytest.fixture
def unchanged(snapshot_db, api, ssl):  # noqa: F811
    """unchanged() -> nothing but idempotency records was written since."""
    for username in ssl.users:
        api(username)
    before = snapshot_db()

    def check():
        export, counts = snapshot_db()
        assert export == before[0]
        counts.pop("once.IdempotencyKey"), before[1].pop("once.IdempotencyKey")
        assert counts == before[1]

    return check


def item(tenants, ref, months=12, **extra):
    return {"order": tenants.orders[ref].pk, "months": months, **extra}


def test_a_quote_without_the_csr_is_refused_naming_the_order(api, ssl, unchanged):
    answer = api("owner").post(QUOTES, {"items": [item(ssl, "o1", 1), item(ssl, "o3")]}, format="json")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "csr_required"
    assert error["message"].startswith("Order o3: renewing this certificate needs a certificate signing request")
    unchanged()


@pytest.mark.parametrize(
    ("csr", "code", "says"),
    [
        (lambda: GARBAGE, "csr_invalid", "Order o3: this is not a readable PEM certificate signing request"),
        (tampered_csr, "csr_bad_signature", "Order o3: the CSR's signature does not match its contents"),
        (lambda: make_csr("other.test"), "csr_wrong_domain", f"Order o3: the CSR is for other.test, not for {DOMAIN}"),
    ],
)
def test_a_bad_csr_is_refused_with_its_code_and_nothing_charged(api, ssl, unchanged, csr, code, says):
    body = {"items": [item(ssl, "o3", csr=csr())]}
    for answer in (
        api("owner").post(QUOTES, body, format="json"),
        api("owner").post(RENEWALS, body, format="json", HTTP_IDEMPOTENCY_KEY="k1"),
    ):
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == code
        assert answer.json()["error"]["message"].startswith(says)
    unchanged()


def test_a_csr_for_an_order_that_takes_none_is_refused(api, ssl, unchanged):
    answer = api("owner").post(QUOTES, {"items": [item(ssl, "o1", 1, csr=make_csr())]}, format="json")
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "csr_not_needed")
    unchanged()


@pytest.mark.parametrize("login", ["owner", "colleague", "acme"])
def test_a_good_csr_renews_the_certificate_and_is_kept_for_the_hook(api, ssl, login):
    pem = make_csr(DOMAIN.upper())  # names compare case-insensitively
    body = {"items": [item(ssl, "o3", csr=pem)]}
    quote = api(login).post(QUOTES, body, format="json")
    assert quote.status_code == 200, quote.json()
    assert quote.json()["lines"][0]["csr_common_name"] == DOMAIN.upper()
    body.update(expected_total=quote.json()["total"])
    paid = api(login).post(RENEWALS, body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert paid.status_code == 201, paid.json()
    o3 = ssl.orders["o3"]
    kept = RenewalCsr.objects.get()
    assert (kept.order_id, kept.cycle, kept.pem) == (o3.pk, o3.expires_on, pem)
    event = LifecycleEvent.objects.get()
    assert (event.order_id, event.transition, event.cycle) == (o3.pk, Transition.REISSUE, o3.expires_on)
    assert Invoice.objects.get().total == 15


def test_an_outsider_s_csr_for_another_tenant_s_order_is_not_found(api, ssl, unchanged):
    answer = api("outsider").post(QUOTES, {"items": [item(ssl, "o3", csr=make_csr())]}, format="json")
    assert answer.status_code == 404
    unchanged()
