"""An invoice as a PDF (fpdf2): what the panels and the API download and what
a ``renewal_succeeded`` mail attaches (SPEC "Beyond the peers").

Byte-stable: the same invoice renders to the same bytes every time and on
every machine with the same pinned fpdf2 and fontTools. The document's dates
are the invoice's own (``issued_at``), its file id is a hash of its content
(fpdf2's default), the lines are in their stored order (pk), and the font is
vendored (``invoices/fonts``), not the host's: a system font package of
another version would change the subset embedded.

Two typefaces, chosen by the invoice's own text, for speed: when every name,
address, ref and description is in Windows-1252 (Western European
languages), the PDF's standard Helvetica, which readers carry and the file
does not embed (~10 ms a PDF); otherwise (Łukasiewicz, Ελένη, Иванов) the
vendored DejaVu Sans, a subset embedded (~100 ms: fontTools parses and cuts
the font for each document). docs/invoices.md has the measurements.

The invoice is rendered from what is already loaded: pass it with its
``reseller``, ``customer`` and ``lines__order`` (``invoices.selectors``
``invoice_detail`` or ``invoices_for_pdf``); nothing here queries.
"""

import datetime
from pathlib import Path

from django.http import HttpResponse
from fpdf import FPDF

from core.money import format_money
from invoices.models import Invoice, RenewalSource

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT = "DejaVu"
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
# The standard font and the encoding its /WinAnsiEncoding means.
CORE_FONT = "helvetica"
CORE_ENCODING = "windows-1252"
# Shown on the document; the processor's text is its own business.
TITLE = "Invoice"
# The table's columns, in mm of the 170 between A4's 20 mm margins.
# Period, Months and Amount fit on one line in either typeface at 9 pt
# (DejaVu is the wider: a period is 42 mm, "1234567.00 USD" 27 mm).
COLUMNS = (("Order", 32), ("Description", 46), ("Period", 46), ("Months", 16), ("Amount", 30))
ALIGN = ("L", "L", "L", "R", "R")
ROW_LINE, ROW_PADDING = 5, 1  # mm
MEDIA_TYPE = "application/pdf"


class FontMissing(RuntimeError):
    """The vendored font is not where it belongs (a broken checkout or image)."""


def filename(invoice: Invoice) -> str:
    """The attachment's name: "<number>.pdf" (numbers are [A-Za-z0-9-])."""
    return f"{invoice.number}.pdf"


def invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice as PDF bytes: the seller (its reseller), the customer, its
    number, date, source and payment reference, each line with its order,
    period and amount, and the total, in the invoice's currency."""
    pdf = _document(invoice)
    pdf.add_page()
    _heading(pdf, invoice)
    _parties(pdf, invoice)
    _facts(pdf, invoice)
    _lines(pdf, invoice)
    return bytes(pdf.output())


class _InvoiceDocument(FPDF):
    def __init__(self, number: str, typeface: str):
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.number = number
        self.typeface = typeface

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font(self.typeface, "", 8)
        self.cell(0, 5, f"{TITLE} {self.number} - page {self.page_no()}", align="C")


def texts(invoice: Invoice) -> list[str]:
    """Every text of the invoice's own that the PDF prints."""
    seller, customer = invoice.reseller, invoice.customer
    found = [invoice.number, invoice.payment_reference, seller.name, seller.email, seller.ref]
    found += [customer.name, customer.email, customer.ref]
    for line in invoice.lines.all():
        found += [line.order.ref, line.description]
    return found


def fits_core_font(strings: list[str]) -> bool:
    """Whether the standard font can print them all (Windows-1252)."""
    try:
        "".join(strings).encode(CORE_ENCODING)
    except UnicodeEncodeError:
        return False
    return True


def _document(invoice: Invoice) -> _InvoiceDocument:
    core = fits_core_font(texts(invoice))
    pdf = _InvoiceDocument(invoice.number, CORE_FONT if core else FONT)
    # A customer's "{nb}" must stay "{nb}": no total-pages placeholder.
    pdf.alias_nb_pages(None)
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(auto=True, margin=20)
    if core:
        pdf.core_fonts_encoding = CORE_ENCODING
    else:
        for style, name in FONT_FILES.items():
            path = FONT_DIR / name
            if not path.is_file():
                raise FontMissing(f"the invoice font {path} is missing: it is part of the repository (invoices/fonts)")
            pdf.add_font(FONT, style, str(path))
    # The invoice's own time, never the render's: the same bytes every time.
    pdf.set_creation_date(_created(invoice))
    pdf.set_title(f"{TITLE} {invoice.number}")
    pdf.set_author(invoice.reseller.name)
    pdf.set_subject(f"{TITLE} {invoice.number} to {invoice.customer.name}")
    pdf.set_creator("Billing portal")
    return pdf


def _created(invoice: Invoice) -> datetime.datetime:
    if invoice.issued_at is not None:
        return invoice.issued_at.astimezone(datetime.UTC).replace(microsecond=0)
    return datetime.datetime.combine(invoice.business_date, datetime.time(), tzinfo=datetime.UTC)


def _heading(pdf: _InvoiceDocument, invoice: Invoice) -> None:
    pdf.set_font(pdf.typeface, "B", 18)
    pdf.cell(0, 10, f"{TITLE} {invoice.number}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)


def _parties(pdf: _InvoiceDocument, invoice: Invoice) -> None:
    seller, customer = invoice.reseller, invoice.customer
    left = ["From", seller.name, seller.email, f"Seller ref: {seller.ref}"]
    right = ["Bill to", customer.name, customer.email, f"Customer ref: {customer.ref}"]
    top, width = pdf.get_y(), (pdf.epw - 10) / 2
    bottom = top
    for x, block in ((pdf.l_margin, left), (pdf.l_margin + width + 10, right)):
        pdf.set_xy(x, top)
        for n, text in enumerate(t for t in block if t):
            pdf.set_font(pdf.typeface, "B" if n == 0 else "", 10)
            pdf.set_x(x)
            pdf.multi_cell(width, 5, text, new_x="LEFT", new_y="NEXT")
        bottom = max(bottom, pdf.get_y())
    pdf.set_xy(pdf.l_margin, bottom + 6)


def _facts(pdf: _InvoiceDocument, invoice: Invoice) -> None:
    facts = [
        ("Invoice number", invoice.number),
        ("Date", invoice.business_date.isoformat()),
        ("Source", RenewalSource(invoice.source).label),
        ("Currency", invoice.currency),
        ("Payment reference", invoice.payment_reference or "-"),
    ]
    for label, value in facts:
        pdf.set_font(pdf.typeface, "B", 10)
        pdf.cell(45, 6, label)
        pdf.set_font(pdf.typeface, "", 10)
        pdf.multi_cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)


def _lines(pdf: _InvoiceDocument, invoice: Invoice) -> None:
    currency = invoice.currency
    header = [name for name, _ in COLUMNS]
    _row(pdf, header, bold=True)
    for line in sorted(invoice.lines.all(), key=lambda line: line.pk):
        description = line.description + (" (complimentary)" if line.complimentary else "")
        cells = [
            line.order.ref,
            description,
            f"{line.period_start.isoformat()} to {line.period_end.isoformat()}",
            str(line.months),
            format_money(line.amount, currency),
        ]
        _row(pdf, cells, repeat=header)
    pdf.ln(4)
    pdf.set_font(pdf.typeface, "B", 11)
    pdf.cell(pdf.epw - 45, 7, "Total", align="R")
    pdf.cell(45, 7, format_money(invoice.total, currency), align="R", new_x="LMARGIN", new_y="NEXT")


def _row(pdf: _InvoiceDocument, cells: list[str], *, bold: bool = False, repeat: list[str] | None = None) -> None:
    """One row of the lines' table, its long cells wrapped, a rule below;
    on a new page when it does not fit, under the column names again.
    (By hand rather than fpdf2's table(), which lays every cell out twice:
    the table was two thirds of a PDF's time.)"""
    pdf.set_font(pdf.typeface, "B" if bold else "", 9)
    widths = [width for _, width in COLUMNS]
    wrapped = [_wrap(pdf, width, text) for width, text in zip(widths, cells, strict=True)]
    height = max(len(lines) for lines in wrapped) * ROW_LINE + 2 * ROW_PADDING
    if pdf.will_page_break(height):
        pdf.add_page()
        if repeat:
            _row(pdf, repeat, bold=True)
        pdf.set_font(pdf.typeface, "B" if bold else "", 9)
    top, x = pdf.get_y(), pdf.l_margin
    for width, lines, align in zip(widths, wrapped, ALIGN, strict=True):
        for n, text in enumerate(lines):
            pdf.set_xy(x, top + ROW_PADDING + n * ROW_LINE)
            pdf.cell(width, ROW_LINE, text, align=align)
        x += width
    bottom = top + height
    pdf.line(pdf.l_margin, bottom, pdf.l_margin + pdf.epw, bottom)
    pdf.set_xy(pdf.l_margin, bottom)


def _wrap(pdf: _InvoiceDocument, width: float, text: str) -> list[str]:
    if pdf.get_string_width(text) <= width - 2 * pdf.c_margin:
        return [text]  # most cells: measured once, not broken
    return pdf.multi_cell(width, ROW_LINE, text, dry_run=True, output="LINES")


def pdf_response(invoice: Invoice) -> HttpResponse:
    """The PDF as a download named "<number>.pdf" (the panels, the API, the
    admin): one answer wherever it is linked."""
    response = HttpResponse(invoice_pdf(invoice), content_type=MEDIA_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename(invoice)}"'
    return response
