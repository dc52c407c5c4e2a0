"""Manual renewal over the API (SPEC "Manual renewal"): quote a batch of
orders, each with its period, then pay it once with an ``Idempotency-Key``.

Customers renew their own orders; resellers the orders of the customers in
their subtree (the services scope every order id by the acting login, so
another tenant's id answers 404 and refuses the whole batch).
"""

import re
from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import refusal
from api.fields import AmountField
from api.parsers import MAX_AMOUNT, DecimalField, IntegerField
from api.serializers.invoices import InvoiceSerializer
from api.views.common import (
    BAD_INPUT,
    CONFLICT,
    IDEMPOTENCY_KEY,
    REFUSED,
    REPLAYED,
    IsCustomerOrReseller,
    actor_of,
    idempotency_key_of,
    replay_headers,
    responses,
)
from core.parse import MAX_BATCH_ORDERS, MAX_ID, MAX_PERIOD_MONTHS
from once.idempotency import request_fingerprint
from once.services import renewal_pay_once
from renewals.csr import CSR_MAX_CHARS
from renewals.manual import renewal_quote
from tenants.selectors import customer_detail

MAX_ITEMS = MAX_BATCH_ORDERS


class RenewalItemSerializer(serializers.Serializer):
    order = IntegerField(min_value=1, max_value=MAX_ID, help_text="the order's id")
    months = IntegerField(
        min_value=1, max_value=MAX_PERIOD_MONTHS, default=1, help_text="a period the order's plan sells (default 1)"
    )
    csr = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=CSR_MAX_CHARS + 1000,  # a little slack: the service says how long a CSR may be
        help_text=(
            "the PEM certificate signing request (-----BEGIN CERTIFICATE REQUEST-----...) of an order whose "
            "category asks for one (SSL): required for those (400 csr_required), refused for others "
            "(400 csr_not_needed); it must parse, be signed by its key and name the order's domain, if it has one "
            "(400 csr_invalid, csr_bad_signature, csr_weak_key, csr_private_key, csr_wrong_domain)"
        ),
    )


def csrs_of(items: list[dict]) -> dict[int, str]:
    """Each item's CSR by order id (an empty one is none)."""
    return {item["order"]: item["csr"] for item in items if item.get("csr", "").strip()}


class QuoteItemsSerializer(serializers.Serializer):
    items = serializers.ListField(
        child=RenewalItemSerializer(), min_length=1, max_length=MAX_ITEMS, help_text="one account's orders"
    )
    align_day = IntegerField(
        min_value=1,
        max_value=31,
        allow_null=True,
        default=None,
        help_text="renew to this day of the month; the extra days are priced pro rata",
    )


class RenewalSerializer(QuoteItemsSerializer):
    pins = serializers.DictField(
        child=serializers.DateField(),
        required=False,
        help_text=(
            'each order\'s `pin` from the quote, {"<order id>": "YYYY-MM-DD"}: the payment is refused '
            "(409 renewed_meanwhile) if an order was renewed since"
        ),
    )
    expected_total = DecimalField(
        max_digits=20,
        decimal_places=3,
        min_value=Decimal("0"),
        max_value=MAX_AMOUNT,
        required=False,
        help_text=(
            "the quote's `total` as shown to the customer: the payment is refused (409 price_changed, nothing "
            "charged) if the total is now different; without it, the total at the time of payment is charged"
        ),
    )
    payment = serializers.ChoiceField(choices=["balance", "card"], default="balance")
    auto_renew_next = serializers.ListField(
        child=IntegerField(min_value=1, max_value=MAX_ID),
        default=list,
        max_length=MAX_ITEMS,
        help_text="orders of this renewal to renew automatically from the next cycle on",
    )

    def validate(self, attrs):
        pins = attrs.get("pins")
        if not pins:  # absent, or {}: nothing pinned
            attrs["pins"] = None
            return attrs
        if not all(re.fullmatch(r"[1-9][0-9]{0,18}", key) for key in pins):
            raise ValidationError({"pins": ["keys are order ids"]})
        if {int(key) for key in pins} != {item["order"] for item in attrs["items"]}:
            raise ValidationError({"pins": ["give a pin for every order in items, and only for those"]})
        attrs["pins"] = {int(key): day for key, day in pins.items()}
        return attrs


class QuoteLineSerializer(serializers.Serializer):
    order_id = serializers.IntegerField()
    order = serializers.CharField(source="order_ref", help_text="the order's ref")
    description = serializers.CharField()
    period_start = serializers.DateField(source="period.start")
    period_end = serializers.DateField(source="period.end", help_text="the paid-thru date after renewing")
    months = serializers.IntegerField(source="period.months")
    amount = AmountField(currency="period.currency")
    pin = serializers.DateField(
        source="period.start", help_text="the paid-thru date quoted: send it back in `pins` when paying"
    )
    csr_common_name = serializers.SerializerMethodField(
        help_text="the name the order's CSR was checked for (null: the order takes no CSR)"
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_csr_common_name(self, line) -> str | None:
        return line.csr.common_name if line.csr else None


class QuoteSerializer(serializers.Serializer):
    customer = serializers.SerializerMethodField(help_text="the customer's ref")
    currency = serializers.CharField()
    align_day = serializers.IntegerField(allow_null=True)
    total = AmountField()
    lines = QuoteLineSerializer(many=True)

    @extend_schema_field(OpenApiTypes.STR)
    def get_customer(self, quote) -> str:
        return self.context["customer"]


# Two orders of the demo login `customer` (manage.py seed_demo), one for 1 month, one for 3.
EXAMPLE_ITEMS = [{"order": 5, "months": 1}, {"order": 10, "months": 3}]


class QuoteView(APIView):
    permission_classes = [IsAuthenticated, IsCustomerOrReseller]

    @extend_schema(
        operation_id="renewal_quote",
        request=QuoteItemsSerializer,
        responses=responses({200: QuoteSerializer}, BAD_INPUT, CONFLICT, REFUSED),
        examples=[OpenApiExample("two orders", value={"items": EXAMPLE_ITEMS, "align_day": None}, request_only=True)],
        description="Price renewing one account's orders, each for its period. Nothing is charged.",
    )
    def post(self, request):
        body = QuoteItemsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actor = actor_of(request)
        quote = renewal_quote(
            actor=actor,
            items=[(item["order"], item["months"]) for item in body.validated_data["items"]],
            align_day=body.validated_data["align_day"],
            csrs=csrs_of(body.validated_data["items"]),
        )
        customer = customer_detail(actor=actor, customer_id=quote.customer_id)
        return Response(QuoteSerializer(quote, context={"customer": customer.ref}).data)


class RenewalView(APIView):
    permission_classes = [IsAuthenticated, IsCustomerOrReseller]

    @extend_schema(
        operation_id="renewal_pay",
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        request=RenewalSerializer,
        responses=responses({201: InvoiceSerializer}, BAD_INPUT, CONFLICT, REFUSED),
        examples=[
            OpenApiExample(
                "two orders from the balance",
                value={"items": EXAMPLE_ITEMS, "align_day": None, "payment": "balance", "auto_renew_next": [10]},
                request_only=True,
            )
        ],
        description=(
            "Renew one account's orders and pay once (balance or saved card): one invoice, all or nothing. "
            "A refused payment changed nothing. Send the quote's total as `expected_total` to be refused "
            "(409 price_changed) rather than charged a price that changed since it was shown."
        ),
    )
    def post(self, request):
        key = idempotency_key_of(request)
        body = RenewalSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        answer = renewal_pay_once(
            actor=actor_of(request),
            key=key,
            fingerprint=request_fingerprint(method=request.method, path=request.path, body=request.data),
            items=[(item["order"], item["months"]) for item in data["items"]],
            align_day=data["align_day"],
            pins=data.get("pins"),
            csrs=csrs_of(data["items"]),
            payment=data["payment"],
            auto_renew_next=set(data["auto_renew_next"]),
            expected_total=data.get("expected_total"),
            render=lambda invoice: InvoiceSerializer(invoice).data,
            refused=refusal,
        )
        return Response(answer.body, status=answer.status, headers=replay_headers(answer))
