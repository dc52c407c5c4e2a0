"""Where the PDF is downloaded: GET /api/invoices/{id}/pdf/, the panels'
links (a customer's invoices, a reseller's view of a customer's invoice,
"Our orders"), the staff admin. Every door answers the same bytes, to the
invoice's owner and colleague and its reseller; a stranger gets 404.

The portal is the panels' (tests/panels/conftest.py): c1 (logins owner and
colleague) of acme; west under acme; outsider (c9) and other elsewhere."""

import datetime
import html
import io
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from pypdf import PdfReader
from rest_framework.test import APIClient

from invoices.models import Invoice, InvoiceLine, RenewalSource
from invoices.pdf import invoice_pdf
from invoices.selectors import invoices_for_pdf
from tenants.models import Customer
from tenants.scope import Actor
from tenants.services import customer_set_owner_reseller
from tests.api.conftest import api  # noqa: F401 - token clients for the three-tenant portal
from tests.panels.conftest import portal, tenants  # noqa: F401 - the shared three-tenant portal
from tests.renewals.conftest import order

pytestmark = pytest.mark.django_db


def issue(customer, orders, *, number: str) -> Invoice:
    invoice = Invoice.objects.create(
        number=number, reseller=customer.reseller, sequence=int(number[-3:]), customer=customer, currency="USD",
        total=Decimal("10.00") * len(orders), business_date=datetime.date(2026, 12, 3),
        payment_reference="ledger:1", source=RenewalSource.MANUAL, created_by="test",
    )  # fmt: skip
    for o in orders:
        InvoiceLine.objects.create(
            invoice=invoice, order=o, description="Basic, 1 month(s)", period_start=o.expires_on,
            period_end=o.expires_on + datetime.timedelta(days=30), months=1, amount=Decimal("10.00"),
        )  # fmt: skip
    return invoice


@pytest.fixture
def invoice(tenants):  # noqa: F811
    return issue(tenants.customers["c1"], [tenants.orders["o1"], tenants.orders["o2"]], number="ACME-2026-001")


def expected(invoice: Invoice) -> bytes:
    return invoice_pdf(invoices_for_pdf([invoice.pk])[invoice.pk])


def assert_the_pdf(response, invoice: Invoice) -> None:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    assert response.content == expected(invoice)
    assert invoice.number in PdfReader(io.BytesIO(response.content)).pages[0].extract_text()


@pytest.mark.parametrize("username", ["owner", "colleague", "acme"])
def test_the_api_answers_the_pdf_to_its_customer_and_reseller(api, invoice, username):  # noqa: F811
    assert_the_pdf(api(username).get(f"/api/invoices/{invoice.pk}/pdf/"), invoice)


def test_the_api_answers_the_pdf_to_a_client_that_accepts_only_pdf(api, invoice):  # noqa: F811
    response = api("owner").get(f"/api/invoices/{invoice.pk}/pdf/", HTTP_ACCEPT="application/pdf")

    assert_the_pdf(response, invoice)


@pytest.mark.parametrize("username", ["outsider", "other", "west"])
@pytest.mark.parametrize("accept", ["application/json", "application/pdf"])
def test_another_tenants_invoice_is_not_found_in_json(api, invoice, username, accept):  # noqa: F811
    response = api(username).get(f"/api/invoices/{invoice.pk}/pdf/", HTTP_ACCEPT=accept)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


def test_an_unknown_invoice_is_not_found(api, invoice):  # noqa: F811
    assert api("owner").get(f"/api/invoices/{invoice.pk + 1000}/pdf/").status_code == 404


def test_without_a_login_the_api_answers_401(invoice):
    response = APIClient().get(f"/api/invoices/{invoice.pk}/pdf/")

    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401


def test_the_invoice_lists_its_pdf(api, invoice):  # noqa: F811
    body = api("owner").get(f"/api/invoices/{invoice.pk}/").json()

    assert body["pdf"] == f"/api/invoices/{invoice.pk}/pdf/"
    assert api("owner").get(body["pdf"]).content == expected(invoice)


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


@pytest.mark.parametrize("username", ["owner", "colleague"])
def test_the_customers_invoice_page_and_list_link_the_pdf(client, tenants, invoice, username):  # noqa: F811
    client.force_login(tenants.users[username])
    link = reverse("invoice-pdf", args=[invoice.pk])

    assert f'href="{link}"' in page(client, reverse("invoice-detail", args=[invoice.pk]))
    assert f'href="{link}"' in page(client, reverse("invoices"))
    assert_the_pdf(client.get(link), invoice)


def test_a_stranger_gets_404_for_the_panels_pdf(client, tenants, invoice):  # noqa: F811
    client.force_login(tenants.users["outsider"])

    assert client.get(reverse("invoice-pdf", args=[invoice.pk])).status_code == 404


def test_the_reseller_links_its_customers_pdf(client, tenants, invoice):  # noqa: F811
    client.force_login(tenants.users["acme"])
    link = reverse("reseller-invoice-pdf", args=[invoice.pk])

    assert f'href="{link}"' in page(client, reverse("reseller-invoice", args=[invoice.pk]))
    assert_the_pdf(client.get(link), invoice)
    client.force_login(tenants.users["other"])
    assert client.get(link).status_code == 404


def test_our_orders_link_the_resellers_own_invoices(client, tenants):  # noqa: F811
    portal(
        [order("ow1", tenants.days(5), customer="wown")],
        resellers=[
            {"ref": "acme", "name": "Acme Hosting", "email": "billing@acme.test"},
            {"ref": "west", "name": "Acme West", "email": "west@acme.test", "parent": "acme"},
        ],
        customers=[{"ref": "wown", "name": "Acme West (own)", "email": "ops@west.test", "reseller": "acme"}],
    )
    own = Customer.objects.get(ref="wown")
    customer_set_owner_reseller(actor=Actor.system("test"), customer_id=own.pk, owner=tenants.resellers["west"])
    invoice = issue(own, list(own.orders.all()), number="ACME-2026-002")
    client.force_login(tenants.users["west"])
    link = reverse("reseller-our-invoice-pdf", args=[invoice.pk])

    assert f'href="{link}"' in page(client, reverse("reseller-our-orders"))
    assert f'href="{link}"' in page(client, reverse("reseller-our-invoice", args=[invoice.pk]))
    assert_the_pdf(client.get(link), invoice)
    client.force_login(tenants.users["other"])
    assert client.get(link).status_code == 404


def test_the_staff_admin_links_the_pdf(client, tenants, invoice):  # noqa: F811
    admin = get_user_model().objects.create_superuser("root", "root@example.test", "pw")
    client.force_login(admin)
    link = reverse("admin:invoices_invoice_pdf", args=[invoice.pk])

    change = page(client, reverse("admin:invoices_invoice_change", args=[invoice.pk]))
    assert f'href="{link}"' in change
    assert "10.00" in change  # its lines' amounts (the inline's money column)
    assert_the_pdf(client.get(link), invoice)
    assert client.get(reverse("admin:invoices_invoice_pdf", args=[invoice.pk + 1000])).status_code == 404
