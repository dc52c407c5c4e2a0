"""Open renewals of the acting customer (or reseller subtree): renewals
waiting for payment, paid through POST /api/renewals/ like any order."""

from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated

from api.serializers.open_renewals import OpenRenewalQuery, OpenRenewalSerializer
from api.views.common import BAD_INPUT, IsCustomerOrReseller, actor_of, responses
from renewals.open import open_renewals_of

TAGS = ["renewals"]


class OpenRenewalList(GenericAPIView):
    permission_classes = [IsAuthenticated, IsCustomerOrReseller]

    @extend_schema(
        operation_id="open_renewals_list",
        tags=TAGS,
        summary="Renewals waiting for payment",
        description=(
            "One per order and cycle, opened the night the order's attempt window opens (whatever its auto-renew "
            "switch), the soonest to pay first. Pay one or several with POST /api/renewals/ (each item's `order` "
            "and `months`); the sweep pays the auto-renewing ones. `status=open` lists those still waiting."
        ),
        parameters=[OpenRenewalQuery],
        responses=responses({200: OpenRenewalSerializer(many=True)}, BAD_INPUT),
    )
    def get(self, request):
        query = OpenRenewalQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = open_renewals_of(actor=actor_of(request), status=query.validated_data.get("status") or None)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(OpenRenewalSerializer(page, many=True).data)
