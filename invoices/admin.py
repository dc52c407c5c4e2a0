from django.contrib import admin
from django.http import Http404
from django.urls import path, reverse
from django.utils.html import format_html

from audit.admin_kit import ReadOnlyAdmin, ReadOnlyInline, money_column
from invoices.models import Invoice, InvoiceLine, InvoiceSequence
from invoices.pdf import pdf_response
from invoices.selectors import invoices_for_pdf


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = ("order", "description", "period_start", "period_end", "months", "amount_shown")
    readonly_fields = fields
    # A static column: Django's read-only field lookup calls an admin's
    # attribute with the object alone (a plain function here would be bound).
    amount_shown = staticmethod(money_column("amount", "invoice.currency", "amount"))


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = (
        "number",
        "business_date",
        "reseller",
        "customer",
        money_column("total"),
        "currency",
        "source",
        "created_by",
    )
    list_filter = ("source", "reseller", "business_date")
    search_fields = ("number", "customer__ref", "customer__name", "payment_reference")
    list_select_related = ("reseller", "customer")
    date_hierarchy = "business_date"
    inlines = [InvoiceLineInline]
    readonly_fields = ("pdf",)

    @admin.display(description="PDF")
    def pdf(self, invoice: Invoice) -> str:
        if invoice.pk is None:
            return "-"
        link = reverse("admin:invoices_invoice_pdf", args=[invoice.pk])
        return format_html('<a href="{}" download>Download {}.pdf</a>', link, invoice.number)

    def get_urls(self):
        pdf = path("<int:invoice_id>/pdf/", self.admin_site.admin_view(self.pdf_view), name="invoices_invoice_pdf")
        return [pdf, *super().get_urls()]

    def pdf_view(self, request, invoice_id: int):
        """The invoice's PDF, as the customer downloads it (invoices/pdf.py)."""
        if not self.has_view_permission(request) or not self.get_queryset(request).filter(pk=invoice_id).exists():
            raise Http404(f"invoice {invoice_id} not found")
        return pdf_response(invoices_for_pdf([invoice_id])[invoice_id])


@admin.register(InvoiceSequence)
class InvoiceSequenceAdmin(ReadOnlyAdmin):
    list_display = ("reseller", "last_number")
    list_select_related = ("reseller",)
