"""Invoices of the acting customer (or reseller subtree)."""

from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from api.serializers.invoices import InvoiceSerializer
from api.views.common import IsCustomerOrReseller, actor_of, responses
from invoices.selectors import invoice_detail, invoices_of

TAGS = ["invoices"]


class InvoiceList(GenericAPIView):
    permission_classes = [IsAuthenticated, IsCustomerOrReseller]

    @extend_schema(operation_id="invoices_list", tags=TAGS, responses=responses({200: InvoiceSerializer(many=True)}))
    def get(self, request):
        # The lines of the page's invoices in one more query, whatever the page size.
        invoices = invoices_of(actor=actor_of(request)).prefetch_related("lines__order")
        page = self.paginate_queryset(invoices)
        return self.get_paginated_response(InvoiceSerializer(page, many=True).data)


class InvoiceDetail(APIView):
    permission_classes = [IsAuthenticated, IsCustomerOrReseller]

    @extend_schema(operation_id="invoices_retrieve", tags=TAGS, responses=responses({200: InvoiceSerializer}))
    def get(self, request, invoice_id: int):
        return Response(InvoiceSerializer(invoice_detail(actor=actor_of(request), invoice_id=invoice_id)).data)
