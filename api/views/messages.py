"""The acting user's messages (the notices): a customer's own, or a
reseller's notices about its customers' failed renewals."""

from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from api.serializers.messages import MessageDetailSerializer, MessageSerializer
from api.views.common import IsCustomerOrReseller, actor_of, responses
from notifications.content import render_many
from notifications.selectors import message_detail, messages_of
from notifications.services import notice_mark_read

TAGS = ["messages"]


class MessageList(GenericAPIView):
    permission_classes = [IsAuthenticated, IsCustomerOrReseller]

    @extend_schema(operation_id="messages_list", tags=TAGS, responses=responses({200: MessageSerializer(many=True)}))
    def get(self, request):
        # The customer and reseller are what a notice not yet delivered renders from.
        notices = messages_of(actor=actor_of(request)).select_related("customer", "reseller")
        page = self.paginate_queryset(notices)
        # Rendered together: a fixed number of queries per page (content.render_many).
        rendered = {n.pk: content for n, content in zip(page, render_many(page), strict=True)}
        return self.get_paginated_response(MessageSerializer(page, many=True, context={"rendered": rendered}).data)


class MessageDetail(APIView):
    permission_classes = [IsAuthenticated, IsCustomerOrReseller]

    @extend_schema(
        operation_id="messages_retrieve",
        tags=TAGS,
        description="Reading a message here does not mark it read: POST .../read/ does.",
        responses=responses({200: MessageDetailSerializer}),
    )
    def get(self, request, notice_id: int):
        return Response(MessageDetailSerializer(message_detail(actor=actor_of(request), notice_id=notice_id)).data)


class MessageRead(APIView):
    permission_classes = [IsAuthenticated, IsCustomerOrReseller]

    @extend_schema(
        operation_id="messages_mark_read",
        tags=TAGS,
        summary="Mark a message read",
        request=None,
        responses=responses({200: MessageSerializer}),
    )
    def post(self, request, notice_id: int):
        actor = actor_of(request)
        message_detail(actor=actor, notice_id=notice_id)  # another tenant's message: 404
        notice_mark_read(actor=actor, notice_id=notice_id)
        return Response(MessageSerializer(message_detail(actor=actor, notice_id=notice_id)).data)
