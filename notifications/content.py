"""What a notice says.

The cause of a notice snapshots its facts into ``Notice.data`` (plain JSON:
refs, dates and amounts as text), cheaply, inside its own transaction; the
templates in ``templates/notifications/`` turn them into a subject, a text
and an HTML body when the notice is delivered or read. One render step for
every kind, so the mail and the panel message always say the same.

A paid renewal's notices carry only their invoice (an immutable record) and
the card that paid, which keeps the nightly run's writes small. A failure's
notices carry the reason's words (``why``, ``what_to_do``) as their cause
wrote them: notifications render facts and never decide (nor import
renewals).
"""

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.template.loader import render_to_string

from core.money import format_money


def money(amount: Decimal, currency: str) -> str:
    """An amount as notices say it, with its currency's places: "1000 JPY"."""
    return format_money(amount, currency)


def order_row(
    ref: str,
    product: str,
    paid_thru: datetime.date | None,
    *,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
    amount: str = "",
) -> dict:
    """One row of a notice's table of orders: product, paid-thru, period, amount."""
    return {
        "ref": ref,
        "product": product,
        "paid_thru": paid_thru.isoformat() if paid_thru else "",
        "period": f"{start} to {end}" if start and end else "",
        "amount": amount,
    }


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _invoices(ids) -> dict:
    """Invoices with their lines and orders, in three queries however many;
    with their seller and customer too, for the PDF a delivery attaches
    (notifications/delivery.py)."""
    from invoices.models import Invoice

    invoices = Invoice.objects.filter(pk__in=set(ids)).select_related("reseller", "customer")
    return {i.pk: i for i in invoices.prefetch_related("lines__order")}


def _invoice_facts(data: dict, invoices: dict | None = None) -> dict:
    invoice = (invoices or _invoices([data["invoice_id"]]))[data["invoice_id"]]
    lines = sorted(invoice.lines.all(), key=lambda line: line.pk)
    facts = {
        "invoice": invoice.number,
        "total": money(invoice.total, invoice.currency),
        "orders": [
            order_row(
                line.order.ref,
                line.description,
                line.period_end,
                start=line.period_start,
                end=line.period_end,
                amount=money(line.amount, invoice.currency),
            )
            for line in lines
        ],
    }
    if data.get("card"):
        facts["card_amount"] = money(Decimal(data["card_amount"]), invoice.currency)
    return facts


INVOICE_KINDS = frozenset({"renewal_succeeded", "renewal_completed"})
# Facts a kind derives at render time from what its cause stored.
_DERIVED = {
    "renewal_succeeded": _invoice_facts,
    "renewal_completed": _invoice_facts,
}


def invoices_for(notices) -> dict:
    """The invoices that the notices not rendered yet render from, read
    together (three queries, none when there are none)."""
    ids = [n.data["invoice_id"] for n in notices if not n.subject and n.kind in INVOICE_KINDS]
    return _invoices(ids) if ids else {}


def render_many(notices) -> list[Rendered]:
    """What a page of notices says, with a fixed number of queries."""
    invoices = invoices_for(notices)
    return [n.rendered(invoices=invoices) for n in notices]


def render(notice, *, invoices: dict | None = None) -> Rendered:
    """The notice's subject, text and HTML, from its data and templates."""
    context = {
        **notice.data,
        "kind": notice.kind,
        "customer": notice.customer,
        "reseller": notice.reseller,
        "business_date": notice.business_date,
        "portal_url": settings.PORTAL_URL.rstrip("/"),
    }
    derive = _DERIVED.get(notice.kind)
    if derive is not None:
        context.update(derive(notice.data, invoices))
    name = f"notifications/{notice.kind}"
    subject = " ".join(render_to_string(f"{name}.subject.txt", context).split())
    text = render_to_string(f"{name}.txt", context)
    # Template tags leave blank lines and trailing spaces behind.
    text = re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+\n", "\n", text)).strip() + "\n"
    return Rendered(subject, text, render_to_string(f"{name}.html", {**context, "subject": subject}))
