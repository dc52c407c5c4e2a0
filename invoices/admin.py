from django.contrib import admin

from core.admin import ReadOnlyAdmin, ReadOnlyInline
from invoices.models import Invoice, InvoiceLine, InvoiceSequence


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = ("order", "description", "period_start", "period_end", "months", "amount")
    readonly_fields = fields


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ("number", "business_date", "reseller", "customer", "total", "currency", "source", "created_by")
    list_filter = ("source", "reseller", "business_date")
    search_fields = ("number", "customer__ref", "customer__name", "payment_reference")
    list_select_related = ("reseller", "customer")
    date_hierarchy = "business_date"
    inlines = [InvoiceLineInline]


@admin.register(InvoiceSequence)
class InvoiceSequenceAdmin(ReadOnlyAdmin):
    list_display = ("reseller", "last_number")
    list_select_related = ("reseller",)
