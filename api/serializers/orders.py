"""Orders: the list's query string, an order with whether it will renew
automatically (and why not), its detail, and the switches a client may
change."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import AMOUNT_SCHEMA, AmountField
from api.parsers import MAX_AMOUNT, DecimalField, IntegerField
from core.money import format_amount
from core.parse import MAX_ID
from orders.models import AfterRenewal, Order, PaymentSource
from orders.periods import days_remaining
from orders.selectors import EXPIRING_WITHIN_MAX, SORT_KEYS
from orders.states import OrderStatus
from renewals.rules import Reason


class OrderQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False, allow_blank=True)
    category = serializers.CharField(required=False, allow_blank=True, max_length=100, help_text="a category's ref")
    expiring_within = IntegerField(
        required=False,
        min_value=0,
        max_value=EXPIRING_WITHIN_MAX,
        help_text="paid thru within this many days from today",
    )
    customer = IntegerField(required=False, min_value=1, max_value=MAX_ID, help_text="one customer's id (resellers)")
    sort = serializers.ChoiceField(
        choices=SORT_KEYS, required=False, default="paid_thru", help_text='a "-" prefix reverses the order'
    )

    def validate_category(self, value: str) -> str:
        known = self.context.get("categories")
        if value and known is not None and value not in known:
            raise serializers.ValidationError(f"no category {value!r}; one of {', '.join(sorted(known))}")
        return value


REASON = serializers.ChoiceField(
    choices=Reason.choices, allow_null=True, help_text="why it will not renew automatically; null when it will"
)


class OrderSerializer(serializers.ModelSerializer):
    """An order, with whether it will renew automatically and, if not, why."""

    # Needs the context's ``today`` and ``outlook`` ({order id: (reason,
    # sentence)}, renewals.selectors.orders_outlook): the rule lives there.

    customer = serializers.CharField(source="customer.ref", help_text="the customer's ref")
    product = serializers.CharField(source="plan.name")
    category = serializers.CharField(source="plan.category.ref", help_text="the category's ref")
    paid_thru = serializers.DateField(source="expires_on", allow_null=True, help_text="null for an endless plan")
    days_remaining = serializers.SerializerMethodField()
    will_auto_renew = serializers.SerializerMethodField()
    reason = serializers.SerializerMethodField()
    reason_text = serializers.SerializerMethodField()
    lead_days = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="the order's own auto-renew point in days before expiry; null: its plan's",
    )
    individual_price = AmountField(
        currency="plan.currency", allow_null=True, help_text="the price of its tenure for this order; null: the plan's"
    )
    after_renewal = serializers.ChoiceField(
        read_only=True,
        choices=AfterRenewal.choices,
        help_text="after a renewal at the individual price: keep it, or the plan's",
    )

    class Meta:
        model = Order
        fields = [
            "id",
            "ref",
            "customer",
            "product",
            "category",
            "status",
            "paid_thru",
            "days_remaining",
            "auto_renew",
            "auto_renew_locked",
            "do_not_renew",
            "payment_source",
            "tenure_months",
            "lead_days",
            "individual_price",
            "after_renewal",
            "will_auto_renew",
            "reason",
            "reason_text",
        ]
        read_only_fields = fields

    def get_days_remaining(self, order) -> int | None:
        return days_remaining(order.expires_on, self.context["today"])

    def get_will_auto_renew(self, order) -> bool:
        return self._outlook(order)[0] is None

    @extend_schema_field(REASON)
    def get_reason(self, order):
        reason = self._outlook(order)[0]
        return reason.value if reason else None

    def get_reason_text(self, order) -> str:
        return self._outlook(order)[1]

    def _outlook(self, order):
        return self.context["outlook"][order.pk]


class PeriodSerializer(serializers.Serializer):
    months = serializers.IntegerField()
    price = AmountField()


class OrderDetailSerializer(OrderSerializer):
    """An order, with what to do about it, its next automatic attempt and the
    periods its plan sells."""

    # Also needs the context's ``what_to_do``, ``next_attempt`` and ``periods``
    # ([(months, price)]), from renewals.selectors and orders.selectors.

    currency = serializers.CharField(source="plan.currency", help_text="the currency of the periods' prices")
    what_to_do = serializers.SerializerMethodField()
    next_attempt = serializers.SerializerMethodField()
    renews_at = serializers.SerializerMethodField()
    periods = serializers.SerializerMethodField()

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "what_to_do", "next_attempt", "renews_at", "currency", "periods"]
        read_only_fields = fields

    def get_what_to_do(self, order) -> str:
        return self.context["what_to_do"]

    @extend_schema_field(
        serializers.DateField(allow_null=True, help_text="the next nightly attempt; null when it will not renew")
    )
    def get_next_attempt(self, order):
        return self.context["next_attempt"]

    @extend_schema_field(
        {
            **AMOUNT_SCHEMA,
            "nullable": True,
            "description": "the price of its next renewal at its tenure (its individual price, else the plan's); "
            "null when nothing prices it or it never expires",
        }
    )
    def get_renews_at(self, order):
        amount = self.context.get("renews_at")
        return None if amount is None else format_amount(amount, order.plan.currency)

    @extend_schema_field(PeriodSerializer(many=True))
    def get_periods(self, order):
        rows = [{"months": m, "price": p, "currency": order.plan.currency} for m, p in self.context["periods"]]
        return PeriodSerializer(rows, many=True).data


# The order's renewal terms (orders.services.order_set_terms), beside its switches.
TERMS = ("lead_days", "individual_price", "after_renewal")


class OrderChangeSerializer(serializers.Serializer):
    """The switches and renewal terms of an order; send only those to change."""

    auto_renew = serializers.BooleanField(required=False)
    do_not_renew = serializers.BooleanField(required=False, help_text="cancel at period end")
    payment_source = serializers.ChoiceField(choices=PaymentSource.choices, required=False)
    auto_renew_locked = serializers.BooleanField(
        required=False, help_text="resellers only: the customer can't change auto_renew"
    )
    lead_days = IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=32767,
        help_text="resellers only: the order's own auto-renew point (days before expiry, shorter than its tenure "
        "at 28 days a month); null: its plan's",
    )
    individual_price = DecimalField(
        required=False,
        allow_null=True,
        max_digits=20,
        decimal_places=3,
        min_value=0,
        max_value=MAX_AMOUNT,
        help_text="resellers only: the price of the order's tenure for this order, as a string in its currency "
        "(no finer than the minor unit); null: the plan's",
    )
    after_renewal = serializers.ChoiceField(
        choices=AfterRenewal.choices,
        required=False,
        help_text="resellers only: after a renewal at the individual price, keep it or go back to the plan's",
    )

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({key: ["not a switch that can be changed here"] for key in unknown})
        if not attrs:
            raise serializers.ValidationError(f"send at least one of {', '.join(self.fields)}")
        return attrs
