"""Resellers' customers: the subtree's list with balances and failures, one
customer, and the per-customer auto-renew permission."""

from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from api.serializers.customers import AllowedSerializer, CustomerQuery, CustomerSerializer
from api.views.common import BAD_INPUT, IsReseller, actor_of, responses
from core.errors import NotFound
from renewals.selectors import customers_of
from tenants.services import customer_set_auto_renew_allowed

TAGS = ["customers"]


def _customer(actor, customer_id: int) -> dict:
    # customers_of carries the balance, order counts and failures; its scope
    # makes another tenant's id look like one that does not exist.
    found = customers_of(actor=actor).filter(pk=customer_id).first()
    if found is None:
        raise NotFound(f"customer {customer_id} not found")
    return CustomerSerializer(found).data


class CustomerList(GenericAPIView):
    permission_classes = [IsAuthenticated, IsReseller]

    @extend_schema(
        operation_id="customers_list",
        tags=TAGS,
        parameters=[CustomerQuery],
        responses=responses({200: CustomerSerializer(many=True)}, BAD_INPUT),
    )
    def get(self, request):
        query = CustomerQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        customers = customers_of(
            actor=actor_of(request),
            query=query.validated_data.get("q", "").strip(),
            failing_only=query.validated_data["failing"],
        )
        page = self.paginate_queryset(customers)
        return self.get_paginated_response(CustomerSerializer(page, many=True).data)


class CustomerDetail(APIView):
    permission_classes = [IsAuthenticated, IsReseller]

    @extend_schema(operation_id="customers_retrieve", tags=TAGS, responses=responses({200: CustomerSerializer}))
    def get(self, request, customer_id: int):
        return Response(_customer(actor_of(request), customer_id))


class CustomerAutoRenewAllowed(APIView):
    permission_classes = [IsAuthenticated, IsReseller]

    @extend_schema(
        operation_id="customers_auto_renew_allowed",
        tags=TAGS,
        summary="Allow or forbid auto-renew for one customer",
        request=AllowedSerializer,
        responses=responses({200: CustomerSerializer}, BAD_INPUT),
    )
    def put(self, request, customer_id: int):
        body = AllowedSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actor = actor_of(request)
        customer_set_auto_renew_allowed(actor=actor, customer_id=customer_id, allowed=body.validated_data["allowed"])
        return Response(_customer(actor, customer_id))
