"""A ``renewal_succeeded`` mail carries its invoice's PDF, through a real
local SMTP server (aiosmtpd): rendered once per invoice, and a PDF that
cannot be rendered fails its own notice only (a fault, retried later)."""

import datetime
import io

import pytest
from django.core.management import call_command
from pypdf import PdfReader

from core.models import Fault
from invoices.models import Invoice
from invoices.pdf import invoice_pdf
from invoices.selectors import invoices_for_pdf
from notifications import delivery
from notifications.delivery import deliver_pending
from notifications.models import DeliveryState, Notice, NoticeKind
from tests.renewals.conftest import order

D = datetime.date
NOW = datetime.datetime(2026, 12, 5, 3, 0, tzinfo=datetime.UTC)


@pytest.fixture
def renewed(portal):
    """A night that renews c1's o1 and c2's o2: two invoices, each with a
    renewal_succeeded and a renewal_completed notice."""
    portal(
        [order("o1", D(2026, 12, 10)), order("o2", D(2026, 12, 10), customer="c2")],
        resellers=[{"ref": "r1", "name": "Acme Hébergement", "email": "billing@acme.test"}],
        customers=[
            {"ref": "c1", "name": "Zoë", "email": "zoe@example.test", "reseller": "r1", "balance": "50.00"},
            {"ref": "c2", "name": "Jan", "email": "jan@example.test", "reseller": "r1", "balance": "50.00"},
        ],
    )
    call_command("run_renewals", "--date", "2026-12-05", verbosity=0)
    return {i.customer.ref: i for i in Invoice.objects.select_related("customer")}


def attachments(message) -> list[tuple[str, str, bytes]]:
    return [
        (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
        for part in message.walk()
        if part.get_filename()
    ]


def mails_to(inbox, address: str) -> dict[str, object]:
    """The messages to ``address`` by notice kind (the X-Portal-Notice header)."""
    return {m["X-Portal-Notice"].split(":")[0]: m for m in inbox.messages if m["To"] == address}


def expected_pdf(invoice: Invoice) -> bytes:
    return invoice_pdf(invoices_for_pdf([invoice.pk])[invoice.pk])


@pytest.mark.django_db
def test_the_paid_renewals_mail_carries_the_invoice_pdf(smtp, renewed):
    invoice = renewed["c1"]

    assert deliver_pending()["sent"] == 4

    mails = mails_to(smtp.inbox, "zoe@example.test")
    [(name, media_type, data)] = attachments(mails[NoticeKind.RENEWAL_SUCCEEDED])
    assert (name, media_type) == (f"{invoice.number}.pdf", "application/pdf")
    assert data == expected_pdf(invoice)
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert invoice.number in text
    assert "Zoë" in text
    assert "Acme Hébergement" in text
    assert attachments(mails[NoticeKind.RENEWAL_COMPLETED]) == []  # the invoice is attached once
    text_body, _ = smtp.inbox.bodies(mails[NoticeKind.RENEWAL_SUCCEEDED])
    assert invoice.number in text_body


@pytest.mark.django_db
def test_an_invoice_is_rendered_once_for_all_its_notices(smtp, renewed, monkeypatch):
    invoice = renewed["c1"]
    first = Notice.objects.get(kind=NoticeKind.RENEWAL_SUCCEEDED, customer=invoice.customer)
    # A second recipient of the same paid renewal (e.g. a billing contact).
    Notice.objects.create(
        kind=first.kind, customer_id=first.customer_id, reseller_id=first.reseller_id, recipient="books@example.test",
        subject_key=first.subject_key, cycle=first.cycle, order_refs=first.order_refs, data=first.data,
        business_date=first.business_date,
    )  # fmt: skip
    rendered = []

    def counting(found):
        rendered.append(found.pk)
        return invoice_pdf(found)

    monkeypatch.setattr(delivery, "invoice_pdf", counting)

    assert deliver_pending()["sent"] == 5

    assert sorted(rendered) == sorted(i.pk for i in renewed.values())  # each invoice once
    to_zoe = attachments(mails_to(smtp.inbox, "zoe@example.test")[NoticeKind.RENEWAL_SUCCEEDED])
    to_books = attachments(mails_to(smtp.inbox, "books@example.test")[NoticeKind.RENEWAL_SUCCEEDED])
    assert to_zoe == to_books


@pytest.mark.django_db
def test_a_pdf_that_fails_fails_its_notice_alone_and_goes_out_on_retry(smtp, renewed, monkeypatch):
    broken = renewed["c1"]

    def fails_for_one(found):
        if found.pk == broken.pk:
            raise ValueError("injected: the font broke")
        return invoice_pdf(found)

    monkeypatch.setattr(delivery, "invoice_pdf", fails_for_one)

    assert deliver_pending(now=NOW) == {"sent": 3, "failed": 1, "panel_only": 0, "deferred": 0, "connections": 1}

    failed = Notice.objects.get(state=DeliveryState.FAILED)
    assert (failed.kind, failed.customer_id) == (NoticeKind.RENEWAL_SUCCEEDED, broken.customer_id)
    assert "injected: the font broke" in failed.last_error
    assert failed.next_attempt_at == NOW + datetime.timedelta(minutes=1)  # retried like a refusal
    fault = Fault.objects.get()
    assert fault.subject == f"notice:{failed.pk}"
    assert "injected: the font broke" in fault.error
    # The others went: c2's both notices with c2's PDF, and c1's completed notice.
    assert set(mails_to(smtp.inbox, "jan@example.test")) == {NoticeKind.RENEWAL_SUCCEEDED, NoticeKind.RENEWAL_COMPLETED}
    assert set(mails_to(smtp.inbox, "zoe@example.test")) == {NoticeKind.RENEWAL_COMPLETED}

    monkeypatch.setattr(delivery, "invoice_pdf", invoice_pdf)  # fixed
    assert deliver_pending(now=NOW + datetime.timedelta(minutes=2))["sent"] == 1

    [(name, _, data)] = attachments(mails_to(smtp.inbox, "zoe@example.test")[NoticeKind.RENEWAL_SUCCEEDED])
    assert name == f"{broken.number}.pdf"
    assert data == expected_pdf(broken)
    assert set(Notice.objects.values_list("state", flat=True)) == {DeliveryState.SENT}


@pytest.mark.django_db
def test_a_notice_naming_no_invoice_fails_alone(smtp, renewed):
    bad = Notice.objects.get(kind=NoticeKind.RENEWAL_SUCCEEDED, customer=renewed["c1"].customer)
    # Bad data: rendered by an earlier attempt, its invoice reference lost.
    Notice.objects.filter(pk=bad.pk).update(
        subject="Renewal paid", body_text="Paid.\n", body_html="<p>Paid.</p>", data={}
    )

    assert deliver_pending(now=NOW)["sent"] == 3

    bad.refresh_from_db()
    assert bad.state == DeliveryState.FAILED
    assert "names no invoice to attach" in bad.last_error
    assert Fault.objects.get().subject == f"notice:{bad.pk}"
    assert len(smtp.inbox.messages) == 3
