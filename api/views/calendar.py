"""The acting login's renewal calendar (SPEC "Beyond the peers"): its
private feed URL, created on the first request, and replacing its secret."""

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from api.serializers.calendar import CalendarSerializer
from api.views.common import IsCustomerOrReseller, actor_of, responses
from calendars.selectors import feed_url
from calendars.services import feed_get_or_create, feed_rotate


def _answer(request, feed) -> Response:
    body = {"url": feed_url(feed, request), "created_at": feed.created_at, "rotated_at": feed.rotated_at}
    return Response(CalendarSerializer(body).data)


class CalendarFeed(APIView):
    permission_classes = [IsAuthenticated, IsCustomerOrReseller]

    @extend_schema(
        operation_id="calendar_retrieve",
        tags=["calendar"],
        summary="The login's private renewal calendar URL",
        description=(
            "An iCal feed (`text/calendar`) of what renews when: each upcoming expiry and each automatic "
            "attempt, and for an order that will not renew by itself why not and what to do. A customer login "
            "gets its account's orders (the next 400 days), a reseller staff login its whole subtree's (the "
            "next 90 days, at most 5000 orders). The URL is the credential: no sign-in, so a calendar app can "
            "subscribe to it. Created on the first request; the same URL after that until it is reset."
        ),
        responses=responses({200: CalendarSerializer}),
    )
    def get(self, request):
        return _answer(request, feed_get_or_create(actor=actor_of(request)))


class CalendarRotate(APIView):
    permission_classes = [IsAuthenticated, IsCustomerOrReseller]

    @extend_schema(
        operation_id="calendar_rotate",
        tags=["calendar"],
        summary="Reset the calendar link",
        description=(
            "Replaces the feed's secret: the old URL answers 404 from now on (subscribe again with the new "
            "one). Audited."
        ),
        request=None,
        responses=responses({200: CalendarSerializer}),
    )
    def post(self, request):
        return _answer(request, feed_rotate(actor=actor_of(request)))
