"""SSL renewals in the customer panel (Django test client): the renewal page
asks for the CSR of an order whose category needs one, in a textarea of its
own; a missing or bad CSR is said next to it with nothing charged, and a good
one renews the order and is kept for the reissue hook.

The portal (tests/panels/conftest.py): c1 (logins owner and colleague) has o1
(hosting) and o3 (a 12-month certificate, 15.00), here for shop.example.com
in a category that asks for a CSR; outsider is c9's login."""

import html

import pytest
from django.urls import reverse

from balances.models import Account
from catalog.models import Category
from invoices.models import Invoice
from orders.models import Order
from renewals.models import LifecycleEvent, RenewalCsr, Transition
from tests.helpers import renewal_form
from tests.renewals.test_csr import DOMAIN, GARBAGE, make_csr, tampered_csr


@pytest.fixture
def ssl(tenants):
    Category.objects.filter(ref="ssl").update(renewal_needs_csr=True)
    Order.objects.filter(ref="o3").update(domain=DOMAIN)
    return tenants


def login(client, tenants, user="owner"):
    client.force_login(tenants.users[user])
    return client


def choices(tenants, **csr):
    o1, o3 = tenants.orders["o1"], tenants.orders["o3"]
    form = {"order": [o1.pk, o3.pk], f"months_{o1.pk}": "1", f"months_{o3.pk}": "12"}
    if "pem" in csr:
        form[f"csr_{o3.pk}"] = csr["pem"]
    return form


def nothing_charged(tenants):
    assert Account.objects.get(pk=tenants.customers["c1"].pk).balance == 100
    assert not Invoice.objects.exists()
    assert not RenewalCsr.objects.exists()
    assert Order.objects.get(ref="o3").expires_on == tenants.orders["o3"].expires_on


@pytest.mark.django_db
def test_the_page_asks_for_the_csr_of_the_certificate_only(client, ssl):
    o1, o3 = ssl.orders["o1"], ssl.orders["o3"]
    page = login(client, ssl).get(reverse("renew"), choices(ssl)).content.decode()
    assert f'<textarea name="csr_{o3.pk}"' in page
    assert f'name="csr_{o1.pk}"' not in page
    assert f"Certificate signing request (CSR) for o3, {DOMAIN}" in page
    # Without it the quote is refused: said next to the field, and no pay button.
    assert f'<div class="errorlist" id="csr_error_{o3.pk}">Order o3: renewing this certificate needs' in page
    assert 'id="pay"' not in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("csr", "says"),
    [
        (lambda: GARBAGE, "Order o3: this is not a readable PEM certificate signing request"),
        (tampered_csr, "Order o3: the CSR&#x27;s signature does not match its contents"),
        (lambda: make_csr("other.test"), f"Order o3: the CSR is for other.test, not for {DOMAIN}"),
    ],
)
def test_a_bad_csr_is_said_next_to_its_field_and_nothing_is_charged(client, ssl, csr, says):
    o3 = ssl.orders["o3"]
    bad = csr()
    owner = login(client, ssl)
    # "Update prices" with the bad CSR: the page keeps the text and says why.
    page = owner.post(reverse("renew"), {**choices(ssl, pem=bad), "action": "quote"}).content.decode()
    assert f'<div class="errorlist" id="csr_error_{o3.pk}">{says}' in page
    assert html.escape(bad.strip()) in page
    assert 'id="pay"' not in page
    # Paying a quote made with a good CSR, the textarea changed to the bad one meanwhile: refused.
    form = renewal_form(owner, choices(ssl, pem=make_csr()))
    page = owner.post(reverse("renew"), {**form, f"csr_{o3.pk}": bad, "action": "pay"}).content.decode()
    assert f'<div class="errorlist" id="csr_error_{o3.pk}">{says}' in page
    nothing_charged(ssl)


@pytest.mark.django_db
@pytest.mark.parametrize("user", ["owner", "colleague"])
def test_a_good_csr_renews_the_certificate(client, ssl, user):
    o3 = ssl.orders["o3"]
    pem = make_csr(DOMAIN)
    browser = login(client, ssl, user)
    page = browser.get(reverse("renew"), choices(ssl, pem=pem)).content.decode()
    assert 'id="pay"' in page
    assert "25.00 USD" in page  # 10.00 + 15.00
    response = browser.post(
        reverse("renew"), {**renewal_form(browser, choices(ssl, pem=pem)), "action": "pay"}, follow=True
    )
    invoice = Invoice.objects.get()
    assert response.redirect_chain[-1][0] == reverse("invoice-detail", args=[invoice.pk])
    kept = RenewalCsr.objects.get()
    assert (kept.order_id, kept.cycle, kept.pem, kept.common_name) == (o3.pk, o3.expires_on, pem, DOMAIN)
    event = LifecycleEvent.objects.get()
    assert (event.order_id, event.transition, event.cycle) == (o3.pk, Transition.REISSUE, o3.expires_on)


@pytest.mark.django_db
def test_an_outsider_cannot_renew_another_tenant_s_certificate(client, ssl):
    o3 = ssl.orders["o3"]
    outsider = login(client, ssl, "outsider")
    assert outsider.get(reverse("renew"), {"order": [o3.pk], f"csr_{o3.pk}": make_csr()}).status_code == 404
    nothing_charged(ssl)


@pytest.mark.django_db
def test_a_reseller_renewing_a_customer_s_certificate_gives_its_csr_too(client, ssl):
    from tests.helpers import hidden_fields

    o3 = ssl.orders["o3"]
    url = reverse("reseller-renew", args=[ssl.customers["c1"].pk])
    acme = login(client, ssl, "acme")
    page = acme.get(url, {"order": [o3.pk]}).content.decode()
    assert f'<div class="errorlist" id="csr_error_{o3.pk}">Order o3: renewing this certificate needs' in page
    pem = make_csr(DOMAIN)
    page = acme.get(url, {"order": [o3.pk], f"csr_{o3.pk}": pem}).content.decode()
    form = {**hidden_fields(page), "order": [o3.pk], f"csr_{o3.pk}": pem, "action": "pay"}
    assert acme.post(url, form).status_code == 302
    assert RenewalCsr.objects.get().pem == pem
    assert Order.objects.get(ref="o3").expires_on > o3.expires_on
