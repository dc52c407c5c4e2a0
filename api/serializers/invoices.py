"""Invoices and their lines: GET /api/invoices/, and the invoice a paid
renewal answers (POST /api/renewals/)."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import AmountField
from invoices.models import Invoice, InvoiceLine


class InvoiceLineSerializer(serializers.ModelSerializer):
    order = serializers.CharField(source="order.ref", help_text="the order's ref")
    order_id = serializers.IntegerField()
    # Declared: the model field's bounds differ by database, the schema must not.
    months = serializers.IntegerField(min_value=1)
    amount = AmountField(currency="invoice.currency")

    class Meta:
        model = InvoiceLine
        fields = ["order_id", "order", "description", "period_start", "period_end", "months", "amount"]


class InvoiceSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer.ref", help_text="the customer's ref")
    lines = InvoiceLineSerializer(many=True)
    total = AmountField()
    pdf = serializers.SerializerMethodField(help_text="the invoice's PDF: GET this path (application/pdf)")

    class Meta:
        model = Invoice
        fields = ["id", "number", "customer", "currency", "total", "business_date", "source", "lines", "pdf"]

    @extend_schema_field(OpenApiTypes.STR)
    def get_pdf(self, invoice: Invoice) -> str:
        return reverse("api-invoice-pdf", args=[invoice.pk])
