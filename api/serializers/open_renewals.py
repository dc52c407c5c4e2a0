"""Open renewals: GET /api/open-renewals/ (SPEC "Open renewals"). Each is
paid like any order, through POST /api/renewals/ with its order and months."""

from rest_framework import serializers

from api.fields import AmountField
from renewals.models import OpenRenewal, OpenRenewalStatus


class OpenRenewalQuery(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=OpenRenewalStatus.choices, required=False, allow_blank=True, help_text="only those in this status"
    )


class OpenRenewalSerializer(serializers.ModelSerializer):
    order = serializers.IntegerField(source="order_id", help_text="the order's id (POST /api/renewals/ takes it)")
    order_ref = serializers.CharField(source="order.ref", help_text="the order's ref")
    # Declared: the model field's bounds differ by database, the schema must not.
    months = serializers.IntegerField(min_value=1, help_text="the period: the order's tenure")
    amount = AmountField(help_text="the price of the period, as quoted when it opened")
    cycle = serializers.DateField(help_text="the paid-thru date it renews")
    pay_by = serializers.DateField(help_text="the date it must be paid by (the paid-thru date)")
    status = serializers.ChoiceField(
        choices=OpenRenewalStatus.choices,
        help_text="open: waiting for payment; closed: renewed (invoice); cancelled: terminated or do-not-renew",
    )
    invoice = serializers.IntegerField(source="invoice_id", allow_null=True, help_text="the renewal's invoice id")

    class Meta:
        model = OpenRenewal
        fields = [
            "id", "order", "order_ref", "cycle", "months", "amount", "currency", "pay_by", "status", "created_on",
            "closed_on", "invoice",
        ]  # fmt: skip
