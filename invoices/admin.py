from django.contrib import admin

from audit.admin_kit import ReadOnlyAdmin, ReadOnlyInline, money_column
from invoices.models import Invoice, InvoiceLine, InvoiceSequence


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = ("order", "description", "period_start", "period_end", "months", "amount_shown")
    readonly_fields = fields
    amount_shown = money_column("amount", "invoice.currency", "amount")


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


@admin.register(InvoiceSequence)
class InvoiceSequenceAdmin(ReadOnlyAdmin):
    list_display = ("reseller", "last_number")
    list_select_related = ("reseller",)
