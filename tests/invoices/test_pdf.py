"""The invoice PDF (invoices/pdf.py): what it says, read back with pypdf, and
that the same invoice always renders to the same bytes."""

import datetime
import io
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from pypdf import PdfReader

from invoices import pdf as invoice_pdf_module
from invoices.models import Invoice, InvoiceLine, RenewalSource
from invoices.pdf import FontMissing, invoice_pdf
from invoices.selectors import invoice_detail, invoices_for_pdf
from orders.models import Order
from tenants.models import Customer, Reseller
from tenants.scope import Actor, ActorKind
from tests.factories import CustomerFactory, OrderFactory, ResellerFactory

D = datetime.date
ROOT = Path(__file__).resolve().parents[2]


def text_of(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def flat(text: str) -> str:
    """The text with its line breaks as spaces: a long cell wraps."""
    return " ".join(text.split())


def make_invoice(*, currency="USD", amounts=("10.00", "27.00"), number="ACME-2026-000042", **invoice) -> Invoice:
    seller = ResellerFactory(name="Acme Hébergement SàRL", email="billing@acme.test", invoice_prefix="ACME")
    customer = CustomerFactory(name="Zoë Ångström-Łukasiewicz", email="zoe@example.test", reseller=seller)
    total = sum((Decimal(a) for a in amounts), Decimal(0))
    created = Invoice.objects.create(
        number=number, reseller=seller, sequence=42, customer=customer, currency=currency, total=total,
        business_date=D(2026, 12, 3), payment_reference="ledger:981", source=RenewalSource.AUTOMATIC,
        created_by="nightly", **invoice,
    )  # fmt: skip
    for n, amount in enumerate(amounts):
        order = OrderFactory(ref=f"dom-{n}.example", customer=customer)
        InvoiceLine.objects.create(
            invoice=created, order=order, description=f"Domain registration {n}, 12 month(s)",
            period_start=D(2026, 12, 10), period_end=D(2027, 12, 10), months=12, amount=Decimal(amount),
        )  # fmt: skip
    customer_actor = Actor(kind=ActorKind.CUSTOMER, label="zoe", customer_id=customer.pk)
    return invoice_detail(actor=customer_actor, invoice_id=created.pk)


@pytest.mark.django_db
def test_the_pdf_says_who_sells_to_whom_what_and_for_how_much():
    invoice = make_invoice()

    data = invoice_pdf(invoice)

    assert data.startswith(b"%PDF-")
    text = flat(text_of(data))
    for expected in (
        "ACME-2026-000042",
        "Acme Hébergement SàRL",
        "billing@acme.test",
        "Zoë Ångström-Łukasiewicz",
        "zoe@example.test",
        invoice.customer.ref,
        "2026-12-03",
        "Automatic (nightly sweep)",
        "ledger:981",
        "dom-0.example",
        "dom-1.example",
        "Domain registration 0, 12 month(s)",
        "2026-12-10 to 2027-12-10",
        "10.00 USD",
        "27.00 USD",
        "Total 37.00 USD",
    ):
        assert expected in text, expected
    reader = PdfReader(io.BytesIO(data))
    assert reader.metadata.title == "Invoice ACME-2026-000042"
    assert reader.metadata.author == "Acme Hébergement SàRL"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("currency", "amounts", "shown", "total"),
    [
        ("JPY", ("1000", "2500"), ("1000 JPY", "2500 JPY"), "3500 JPY"),
        ("KWD", ("1.500", "0.125"), ("1.500 KWD", "0.125 KWD"), "1.625 KWD"),
    ],
)
def test_amounts_have_their_currencys_places(currency, amounts, shown, total):
    text = flat(text_of(invoice_pdf(make_invoice(currency=currency, amounts=amounts))))

    for amount in shown:
        assert amount in text
    assert f"Total {total}" in text


@pytest.mark.django_db
def test_a_complimentary_invoice_says_so():
    invoice = make_invoice(amounts=("0.00",))
    Invoice.objects.filter(pk=invoice.pk).update(source=RenewalSource.COMPLIMENTARY, payment_reference="")
    InvoiceLine.objects.filter(invoice=invoice).update(complimentary=True)
    invoice = invoices_for_pdf([invoice.pk])[invoice.pk]

    text = flat(text_of(invoice_pdf(invoice)))

    assert "Complimentary (admin extension)" in text
    assert "(complimentary)" in text
    assert "Total 0.00 USD" in text


@pytest.mark.django_db
def test_the_same_invoice_renders_to_the_same_bytes():
    invoice = make_invoice()
    first = invoice_pdf(invoice)

    again = invoice_pdf(invoices_for_pdf([invoice.pk])[invoice.pk])

    assert again == first


@pytest.mark.django_db
def test_the_pdf_is_dated_by_the_invoice_not_by_the_render():
    invoice = make_invoice()
    Invoice.objects.filter(pk=invoice.pk).update(issued_at=datetime.datetime(2026, 12, 3, 1, 2, 3, tzinfo=datetime.UTC))

    reader = PdfReader(io.BytesIO(invoice_pdf(invoices_for_pdf([invoice.pk])[invoice.pk])))

    assert reader.metadata.creation_date == datetime.datetime(2026, 12, 3, 1, 2, 3, tzinfo=datetime.UTC)


@pytest.mark.django_db
def test_many_lines_run_over_pages_and_all_are_listed():
    invoice = make_invoice(amounts=tuple("1.00" for _ in range(70)))

    data = invoice_pdf(invoice)

    assert len(PdfReader(io.BytesIO(data)).pages) > 1
    text = flat(text_of(data))
    assert [n for n in range(70) if f"dom-{n}.example" not in text] == []
    assert "Total 70.00 USD" in text


@pytest.mark.django_db
def test_a_loaded_invoice_renders_without_a_query(django_assert_num_queries):
    invoice = make_invoice()

    with django_assert_num_queries(3):  # the invoices with their seller and customer, their lines, the lines' orders
        loaded = invoices_for_pdf([invoice.pk])
    with django_assert_num_queries(0):
        invoice_pdf(loaded[invoice.pk])


@pytest.mark.django_db
def test_hostile_text_is_printed_as_text():
    invoice = make_invoice()
    Customer.objects.filter(pk=invoice.customer_id).update(name="{nb} <script>)\\( %PDF-")
    Reseller.objects.filter(pk=invoice.reseller_id).update(name="R" * 200)
    InvoiceLine.objects.filter(invoice=invoice).update(description="two\nlines,\ta tab, 😀 and 中文")

    text = flat(text_of(invoice_pdf(invoices_for_pdf([invoice.pk])[invoice.pk])))

    assert "{nb} <script>)\\( %PDF-" in text
    assert "R" * 60 in text.replace(" ", "")
    assert "lines," in text  # the rest of the line printed, whatever the font lacks


def test_a_nul_prints_as_nothing_worse():
    # PostgreSQL keeps no NUL in text; SQLite and an import's memory may.
    text = flat(text_of(invoice_pdf(in_memory_invoice(customer_name="Zoë\x00 Ångström"))))

    assert "Ångström" in text


def fonts_of(data: bytes) -> set[str]:
    """The fonts the PDF's pages use, by their base name ("/Helvetica")."""
    found = set()
    for page in PdfReader(io.BytesIO(data)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            found.add(font["/BaseFont"])
            if "/DescendantFonts" in font:  # an embedded TrueType subset
                descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
                found.add("embedded" if "/FontFile2" in descriptor else "not embedded")
    return found


@pytest.mark.parametrize(
    ("name", "fonts"),
    [
        ("Zoë Ångström, Café Æsir & Søn", {"/Helvetica", "/Helvetica-Bold"}),  # Windows-1252: the standard font
        ("Ελένη Παπαδοπούλου", {"/MPDFAA+DejaVuSansBook", "/MPDFAA+DejaVuSansBold", "embedded"}),
        ("Иван Петров", {"/MPDFAA+DejaVuSansBook", "/MPDFAA+DejaVuSansBold", "embedded"}),
    ],
)
def test_a_name_outside_western_european_embeds_the_unicode_font(name, fonts):
    invoice = in_memory_invoice(customer_name=name)

    data = invoice_pdf(invoice)

    assert fonts_of(data) == fonts
    assert name in flat(text_of(data))


def test_a_missing_font_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(invoice_pdf_module, "FONT_DIR", tmp_path)
    invoice = in_memory_invoice(customer_name="Łukasz")

    with pytest.raises(FontMissing, match=r"DejaVuSans\.ttf is missing: it is part of the repository"):
        invoice_pdf(invoice)


def in_memory_invoice(customer_name: str = "Zoë Ångström") -> Invoice:
    """An invoice built in memory, without a database: the same in every
    process (for the byte-stability across processes)."""
    seller = Reseller(pk=7, ref="acme", name="Acme Hébergement", email="billing@acme.test", invoice_prefix="ACME")
    customer = Customer(pk=9, ref="c9", name=customer_name, email="zoe@example.test", reseller=seller)
    invoice = Invoice(
        pk=11, number="ACME-2026-000011", reseller=seller, sequence=11, customer=customer, currency="KWD",
        total=Decimal("1.625"), business_date=D(2026, 12, 3), payment_reference="ledger:5",
        source=RenewalSource.MANUAL, created_by="jane",
        issued_at=datetime.datetime(2026, 12, 3, 1, 0, tzinfo=datetime.UTC),
    )  # fmt: skip
    lines = [
        InvoiceLine(
            pk=pk,
            invoice=invoice,
            order=Order(pk=pk, ref=f"o{pk}"),
            description="Hosting, 1 month(s)",
            period_start=D(2026, 12, 10),
            period_end=D(2027, 1, 10),
            months=1,
            amount=Decimal(amount),
        )
        for pk, amount in ((3, "0.125"), (2, "1.500"))
    ]
    invoice._prefetched_objects_cache = {"lines": lines}
    return invoice


RENDER_IN_A_NEW_PROCESS = """
import sys, django
django.setup()
from invoices.pdf import invoice_pdf
from tests.invoices.test_pdf import in_memory_invoice
for name in ("Zoë Ångström", "Łukasz Иванов"):  # the standard font, the embedded one
    sys.stdout.buffer.write(invoice_pdf(in_memory_invoice(name)))
"""


def test_another_process_renders_the_same_bytes():
    here = invoice_pdf(in_memory_invoice("Zoë Ångström")) + invoice_pdf(in_memory_invoice("Łukasz Иванов"))
    # The tests' own settings (DEBUG may be off: they need no secret key).
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE, "PYTHONHASHSEED": "12345"}

    there = subprocess.run(
        [sys.executable, "-c", RENDER_IN_A_NEW_PROCESS], cwd=ROOT, env=env, capture_output=True, check=True, timeout=60
    ).stdout

    assert there == here
    text = flat(text_of(here))
    # Lines in their stored order (pk), whatever order they were loaded in.
    assert text.index("o2 ") < text.index("o3 ")
