"""Orders: the list's query string, an order with whether it will renew
automatically (and why not), its detail, and the switches a client may
change."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import AmountField
from api.parsers import IntegerField
from core.parse import MAX_ID
from orders.models import Order, PaymentSource
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
    periods = serializers.SerializerMethodField()

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "what_to_do", "next_attempt", "currency", "periods"]
        read_only_fields = fields

    def get_what_to_do(self, order) -> str:
        return self.context["what_to_do"]

    @extend_schema_field(
        serializers.DateField(allow_null=True, help_text="the next nightly attempt; null when it will not renew")
    )
    def get_next_attempt(self, order):
        return self.context["next_attempt"]

    @extend_schema_field(PeriodSerializer(many=True))
    def get_periods(self, order):
        rows = [{"months": m, "price": p, "currency": order.plan.currency} for m, p in self.context["periods"]]
        return PeriodSerializer(rows, many=True).data


class OrderChangeSerializer(serializers.Serializer):
    """The switches of an order; send only those to change."""

    auto_renew = serializers.BooleanField(required=False)
    do_not_renew = serializers.BooleanField(required=False, help_text="cancel at period end")
    payment_source = serializers.ChoiceField(choices=PaymentSource.choices, required=False)
    auto_renew_locked = serializers.BooleanField(
        required=False, help_text="resellers only: the customer can't change auto_renew"
    )

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({key: ["not a switch that can be changed here"] for key in unknown})
        if not attrs:
            raise serializers.ValidationError(f"send at least one of {', '.join(self.fields)}")
        return attrs
