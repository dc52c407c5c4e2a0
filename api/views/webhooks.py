"""A reseller's webhook endpoints and their deliveries (docs/webhooks.md):
resellers' staff only (customers 403); another reseller's ids are 404."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from api.serializers.webhooks import (
    DeliverySerializer,
    EndpointChangeSerializer,
    EndpointCreateSerializer,
    EndpointSerializer,
    EndpointWithSecretSerializer,
)
from api.views.common import BAD_INPUT, IsReseller, actor_of, responses
from webhooks import services
from webhooks.selectors import deliveries_of, endpoint_detail, endpoints_of

TAGS = ["webhooks"]


def _call(action):
    """A service call whose bad input says which field (400, ``fields``)."""
    try:
        return action()
    except services.WebhookError as exc:
        if exc.field:
            raise ValidationError({exc.field: [exc.message.split(": ", 1)[-1]]}) from exc
        raise


# At most MAX_ENDPOINTS a reseller: not paginated.
class EndpointList(APIView):
    permission_classes = [IsAuthenticated, IsReseller]

    @extend_schema(
        operation_id="webhook_endpoints_list", tags=TAGS, responses=responses({200: EndpointSerializer(many=True)})
    )
    def get(self, request):
        return Response(EndpointSerializer(endpoints_of(actor=actor_of(request)), many=True).data)

    @extend_schema(
        operation_id="webhook_endpoints_create",
        tags=TAGS,
        summary="Register an endpoint",
        description="Answers the endpoint with its signing `secret` (also on GET .../{id}/secret/ later).",
        request=EndpointCreateSerializer,
        responses=responses({201: EndpointWithSecretSerializer}, BAD_INPUT),
    )
    def post(self, request):
        data = EndpointCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actor = actor_of(request)
        endpoint = _call(lambda: services.endpoint_create(actor=actor, **data.validated_data))
        return Response(EndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointDetail(APIView):
    permission_classes = [IsAuthenticated, IsReseller]

    @extend_schema(operation_id="webhook_endpoints_retrieve", tags=TAGS, responses=responses({200: EndpointSerializer}))
    def get(self, request, endpoint_id: int):
        return Response(EndpointSerializer(endpoint_detail(actor=actor_of(request), endpoint_id=endpoint_id)).data)

    @extend_schema(
        operation_id="webhook_endpoints_update",
        tags=TAGS,
        request=EndpointChangeSerializer,
        responses=responses({200: EndpointSerializer}, BAD_INPUT),
    )
    def patch(self, request, endpoint_id: int):
        data = EndpointChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actor = actor_of(request)
        endpoint = _call(lambda: services.endpoint_update(actor=actor, endpoint_id=endpoint_id, **data.validated_data))
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(operation_id="webhook_endpoints_destroy", tags=TAGS, responses=responses({204: None}))
    def delete(self, request, endpoint_id: int):
        services.endpoint_delete(actor=actor_of(request), endpoint_id=endpoint_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointSecret(APIView):
    permission_classes = [IsAuthenticated, IsReseller]

    @extend_schema(
        operation_id="webhook_endpoints_secret",
        tags=TAGS,
        summary="The endpoint's signing secret",
        responses=responses({200: EndpointWithSecretSerializer}),
    )
    def get(self, request, endpoint_id: int):
        endpoint = endpoint_detail(actor=actor_of(request), endpoint_id=endpoint_id)
        return Response(EndpointWithSecretSerializer(endpoint).data)


class EndpointRotateSecret(APIView):
    permission_classes = [IsAuthenticated, IsReseller]

    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        tags=TAGS,
        summary="Replace the signing secret",
        description="Deliveries from now on are signed with the new secret.",
        request=None,
        responses=responses({200: EndpointWithSecretSerializer}),
    )
    def post(self, request, endpoint_id: int):
        endpoint = services.endpoint_rotate_secret(actor=actor_of(request), endpoint_id=endpoint_id)
        return Response(EndpointWithSecretSerializer(endpoint).data)


class DeliveryList(GenericAPIView):
    permission_classes = [IsAuthenticated, IsReseller]

    @extend_schema(
        operation_id="webhook_deliveries_list",
        tags=TAGS,
        summary="An endpoint's deliveries, newest first",
        responses=responses({200: DeliverySerializer(many=True)}),
    )
    def get(self, request, endpoint_id: int):
        page = self.paginate_queryset(deliveries_of(actor=actor_of(request), endpoint_id=endpoint_id))
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)


class DeliveryRedeliver(APIView):
    permission_classes = [IsAuthenticated, IsReseller]

    @extend_schema(
        operation_id="webhook_deliveries_redeliver",
        tags=TAGS,
        summary="Send a delivery again",
        description="A new try now, with the same event id (an endpoint that is disabled gets it once enabled).",
        request=None,
        responses=responses({202: DeliverySerializer}),
    )
    def post(self, request, delivery_id: int):
        delivery = services.delivery_redeliver(actor=actor_of(request), delivery_id=delivery_id)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
