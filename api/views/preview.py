"""Tonight's sweep, previewed for the acting reseller's subtree: the same
planning code as the nightly run and its dry-run, reading only."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from api.serializers.preview import SweepPreviewSerializer
from api.views.common import IsReseller, actor_of, responses
from renewals.selectors import sweep_preview


class SweepPreview(GenericAPIView):
    permission_classes = [IsAuthenticated, IsReseller]

    @extend_schema(
        operation_id="sweep_preview",
        tags=["sweep"],
        summary="What the next nightly run would do",
        description=(
            "Customers with orders due on the run's date, failing batches first, one page at a time; "
            "`summary` covers them all. Nothing is charged or changed."
        ),
        parameters=[
            OpenApiParameter("page", int, description="a page number within the customers"),
            OpenApiParameter("page_size", int, description="customers per page (at most 200)"),
        ],
        responses=responses({200: SweepPreviewSerializer}),
    )
    def get(self, request):
        preview = sweep_preview(actor=actor_of(request))
        page = self.paginate_queryset(preview.lines())
        body = {
            "date": preview.on,
            "summary": preview.summary(),
            "count": self.paginator.page.paginator.count,
            "next": self.paginator.get_next_link(),
            "previous": self.paginator.get_previous_link(),
            "results": page,
        }
        return Response(SweepPreviewSerializer(body).data)
