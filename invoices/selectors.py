"""Reads of invoices for the panels, scoped to the acting user."""

from django.db.models import Count, QuerySet

from core.errors import NotFound
from invoices.models import Invoice
from tenants.scope import Actor


def invoices_of(*, actor: Actor) -> QuerySet:
    return (
        Invoice.objects.visible_to(actor)
        .exclude(sequence=None)  # numbered: paid and committed
        .select_related("customer")
        .annotate(line_count=Count("lines"))
        .order_by("-business_date", "-pk")
    )


def invoice_detail(*, actor: Actor, invoice_id: int) -> Invoice:
    invoice = (
        Invoice.objects.visible_to(actor)
        .select_related("customer", "reseller")
        .prefetch_related("lines__order")
        .filter(pk=invoice_id)
        .first()
    )
    if invoice is None:
        raise NotFound(f"invoice {invoice_id} not found")
    return invoice


def invoices_for_pdf(ids) -> dict[int, Invoice]:
    """The invoices ``ids`` with what their PDF shows (seller, customer, lines
    and their orders), by id: three queries however many (delivery)."""
    ids = set(ids)
    if not ids:
        return {}
    invoices = Invoice.objects.filter(pk__in=ids).select_related("reseller", "customer")
    return {i.pk: i for i in invoices.prefetch_related("lines__order")}
