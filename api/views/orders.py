"""Orders of the acting customer (or reseller subtree): the list with whether
each will renew automatically, one order with what to do about it, and its
switches."""

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from api.serializers.orders import TERMS, OrderChangeSerializer, OrderDetailSerializer, OrderQuery, OrderSerializer
from api.views.common import BAD_INPUT, REFUSED, IsCustomerOrReseller, actor_of, responses
from core.dates import business_today
from orders.selectors import OrderFilters, categories, order_detail, orders_of, periods_of
from orders.services import order_set_flags, order_set_terms
from renewals.rules import renewal_prices
from renewals.selectors import next_attempt_on, order_renewal_outlook, orders_outlook
from tenants.selectors import customer_detail

TAGS = ["orders"]


class OrderList(GenericAPIView):
    permission_classes = [IsAuthenticated, IsCustomerOrReseller]

    @extend_schema(
        operation_id="orders_list",
        tags=TAGS,
        parameters=[OrderQuery],
        responses=responses({200: OrderSerializer(many=True)}, BAD_INPUT),
    )
    def get(self, request):
        actor = actor_of(request)
        query = OrderQuery(data=request.query_params, context={"categories": {c.ref for c in categories()}})
        query.is_valid(raise_exception=True)
        params = query.validated_data
        if params.get("customer") is not None:
            customer_detail(actor=actor, customer_id=params["customer"])  # another tenant's customer: 404
        filters = OrderFilters(
            status=params.get("status", ""),
            category=params.get("category", ""),
            expiring_within=params.get("expiring_within"),
            sort=params.get("sort") or "paid_thru",
            customer_id=params.get("customer"),
        )
        today = business_today()
        page = self.paginate_queryset(orders_of(actor=actor, filters=filters, on=today))
        context = {"today": today, "outlook": orders_outlook(actor=actor, orders=page, on=today)}
        return self.get_paginated_response(OrderSerializer(page, many=True, context=context).data)


def _order(actor, order_id: int) -> dict:
    """One order as OrderDetailSerializer shows it, read after any change."""
    today = business_today()
    order = order_detail(actor=actor, order_id=order_id)
    outlook = order_renewal_outlook(actor=actor, order_id=order_id, on=today)
    context = {
        "today": today,
        "outlook": {order.pk: (outlook.reason, outlook.sentence)},
        "what_to_do": outlook.what_to_do,
        "next_attempt": next_attempt_on(outlook, today),
        "renews_at": outlook.renews_at,
        # Priced as a quote prices them: its individual price for its tenure.
        "periods": renewal_prices(
            dict(periods_of([order.plan_id]).get(order.plan_id, [])), order.tenure_months, order.individual_price
        ),
    }
    return OrderDetailSerializer(order, context=context).data


class OrderDetail(APIView):
    permission_classes = [IsAuthenticated, IsCustomerOrReseller]

    @extend_schema(operation_id="orders_retrieve", tags=TAGS, responses=responses({200: OrderDetailSerializer}))
    def get(self, request, order_id: int):
        return Response(_order(actor_of(request), order_id))

    @extend_schema(
        operation_id="orders_update",
        tags=TAGS,
        summary="Change an order's switches and renewal terms",
        description=(
            "Any of auto_renew, do_not_renew, payment_source; resellers also auto_renew_locked and the renewal "
            "terms lead_days, individual_price and after_renewal (null clears lead_days or individual_price: "
            "the plan's applies). A lead_days not shorter than the order's tenure (28 days a month) or a price "
            "finer than its currency's minor unit gets 422 and nothing changes; a customer sending a renewal "
            "term gets 403 `forbidden`. "
            "A customer changing auto_renew or do_not_renew (setting or clearing it) on an order whose switch "
            "the reseller locked gets 403 `auto_renew_locked` and nothing changes; a customer sending "
            "auto_renew_locked gets 403 `forbidden`."
        ),
        request=OrderChangeSerializer,
        responses=responses({200: OrderDetailSerializer}, BAD_INPUT, REFUSED),
    )
    def patch(self, request, order_id: int):
        body = OrderChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actor = actor_of(request)
        terms = {k: v for k, v in body.validated_data.items() if k in TERMS}
        flags = {k: v for k, v in body.validated_data.items() if k not in TERMS}
        with transaction.atomic():  # all of it or nothing
            if terms:
                order_set_terms(actor=actor, order_id=order_id, **terms)
            if flags:
                order_set_flags(actor=actor, order_id=order_id, **flags)
        return Response(_order(actor, order_id))
