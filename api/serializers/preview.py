"""Tonight's sweep as a reseller previews it (GET /api/sweep/preview/)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import AmountField
from api.serializers.orders import REASON
from orders.models import PaymentSource
from renewals.rules import Reason


class PreviewTotalSerializer(serializers.Serializer):
    currency = serializers.CharField()
    amount = AmountField()


class PreviewSummarySerializer(serializers.Serializer):
    customers = serializers.IntegerField(help_text="customers with orders due")
    renewing = serializers.IntegerField(help_text="customers whose batch will renew")
    renewing_orders = serializers.IntegerField()
    failing = serializers.IntegerField(help_text="customers whose batch will fail")
    failing_orders = serializers.IntegerField()
    skipped_orders = serializers.IntegerField()
    waiting = serializers.IntegerField(help_text="customers their retry policy does not try that night")
    totals = serializers.SerializerMethodField(help_text="what the renewing batches will charge, per currency")

    @extend_schema_field(PreviewTotalSerializer(many=True))
    def get_totals(self, summary):
        rows = [{"currency": currency, "amount": amount} for currency, amount in summary["totals"]]
        return PreviewTotalSerializer(rows, many=True).data


class PreviewOrderSerializer(serializers.Serializer):
    ref = serializers.CharField()
    product = serializers.CharField()
    payment_source = serializers.ChoiceField(choices=PaymentSource.choices)
    paid_thru = serializers.DateField()
    new_paid_thru = serializers.DateField()
    amount = AmountField()


class PreviewSkippedSerializer(serializers.Serializer):
    ref = serializers.CharField()
    product = serializers.CharField()
    paid_thru = serializers.DateField(allow_null=True)
    reason = serializers.ChoiceField(choices=Reason.choices)
    reason_text = serializers.CharField()
    what_to_do = serializers.CharField()


class PreviewLineSerializer(serializers.Serializer):
    """One customer with orders due on the run's date."""

    # Shapes a renewals.selectors.PreviewLine.

    customer_id = serializers.IntegerField(source="plan.account.customer_id")
    customer = serializers.CharField(source="plan.account.ref", help_text="the customer's ref")
    name = serializers.CharField(source="plan.account.name")
    currency = serializers.CharField(source="plan.account.currency")
    outcome = serializers.SerializerMethodField()
    reason = serializers.SerializerMethodField()
    reason_text = serializers.SerializerMethodField()
    what_to_do = serializers.CharField(help_text="for a failing batch: what the customer can do")
    total = AmountField(source="plan.total", currency="plan.account.currency")
    from_balance = AmountField(currency="plan.account.currency")
    from_card = AmountField(
        currency="plan.account.currency",
        help_text="charged to the saved card: at least the card processor's minimum, the rest staying on the balance",
    )
    shortfall = AmountField(currency="plan.account.currency", help_text="what a failing batch lacks; 0 otherwise")
    waiting = serializers.BooleanField(
        source="plan.waiting", help_text="not tried that night: its retry policy tries it on next_attempt"
    )
    next_attempt = serializers.DateField(
        allow_null=True, help_text="the night its batch is tried (null: no attempt left before expiry)"
    )
    orders = serializers.SerializerMethodField()
    skipped = serializers.SerializerMethodField()

    @extend_schema_field(
        serializers.ChoiceField(
            choices=["renewed", "failed", "pending"], allow_null=True, help_text="null: every due order is skipped"
        )
    )
    def get_outcome(self, line):
        return line.plan.outcome or None

    @extend_schema_field(REASON)
    def get_reason(self, line):
        return line.plan.reason.value if line.plan.reason else None

    def get_reason_text(self, line) -> str:
        return line.plan.reason.label if line.plan.reason else ""

    @extend_schema_field(PreviewOrderSerializer(many=True))
    def get_orders(self, line):
        rows = [
            {
                "ref": item.order.ref,
                "product": product,
                "payment_source": item.order.payment_source,
                "paid_thru": item.order.expires_on,
                "new_paid_thru": item.period.end,
                "amount": item.period.amount,
                "currency": line.plan.account.currency,
            }
            for item, product in line.batch
        ]
        return PreviewOrderSerializer(rows, many=True).data

    @extend_schema_field(PreviewSkippedSerializer(many=True))
    def get_skipped(self, line):
        rows = [
            {
                "ref": item.order.ref,
                "product": product,
                "paid_thru": item.order.expires_on,
                "reason": item.reason.value,
                "reason_text": item.reason.label,
                "what_to_do": what_to_do,
            }
            for item, product, what_to_do in line.skipped
        ]
        return PreviewSkippedSerializer(rows, many=True).data


class SweepPreviewSerializer(serializers.Serializer):
    """The preview with one page of its customers (failing first)."""

    date = serializers.DateField(help_text="the business date of the run previewed")
    summary = PreviewSummarySerializer()
    count = serializers.IntegerField(help_text="customers with orders due")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = PreviewLineSerializer(many=True)
