"""Invoices of the acting customer (or reseller subtree), and each one as a
PDF (SPEC "Beyond the peers": GET /api/invoices/{id}/pdf/)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from api.serializers.invoices import InvoiceSerializer
from api.views.common import COMMON_ERRORS, IsCustomerOrReseller, actor_of, responses
from invoices.pdf import MEDIA_TYPE, pdf_response
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


class PDFRenderer(BaseRenderer):
    """Lets a client ask for ``Accept: application/pdf``; the PDF itself is
    answered as it is (InvoicePdf), errors as JSON."""

    media_type = MEDIA_TYPE
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class InvoicePdf(APIView):
    permission_classes = [IsAuthenticated, IsCustomerOrReseller]
    renderer_classes = [PDFRenderer, JSONRenderer]

    @extend_schema(
        operation_id="invoices_pdf",
        tags=TAGS,
        description=(
            "The invoice as a PDF (the same document the panels link and renewal mails attach), as an "
            'attachment named "<number>.pdf". The same invoice always answers the same bytes.'
        ),
        responses={
            (200, MEDIA_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description="The invoice's PDF."),
            # Errors are JSON whatever the Accept header asked for.
            **{(code, "application/json"): answer for code, answer in COMMON_ERRORS.items()},
        },
    )
    def get(self, request, invoice_id: int):
        return pdf_response(invoice_detail(actor=actor_of(request), invoice_id=invoice_id))

    def finalize_response(self, request, response, *args, **kwargs):
        # An error (a DRF Response of the one error shape) is JSON even when
        # the client asked for application/pdf only.
        if isinstance(response, Response) and getattr(request, "accepted_renderer", None) is not None:
            if request.accepted_renderer.format == PDFRenderer.format:
                request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)
