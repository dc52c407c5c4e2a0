"""A reseller's customers: the list's query string, a customer, and the
auto-renew permission."""

from rest_framework import serializers

from api.fields import AmountField
from tenants.models import Customer


class CustomerQuery(serializers.Serializer):
    q = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="part of the name, ref or email"
    )
    failing = serializers.BooleanField(
        required=False, default=False, help_text="only customers with a failed renewal this cycle"
    )


class CustomerSerializer(serializers.ModelSerializer):
    reseller = serializers.CharField(source="reseller.ref", help_text="the reseller's ref")
    balance = AmountField(source="account.balance", currency="account.currency")
    currency = serializers.CharField(source="account.currency")
    credit_limit = AmountField(source="account.credit_limit", currency="account.currency")
    allow_auto_renew = serializers.BooleanField(help_text="the reseller's permission for this customer")
    orders_active = serializers.IntegerField()
    orders_suspended = serializers.IntegerField()
    failed_renewals = serializers.IntegerField(help_text="active orders whose auto-renewal failed this cycle")

    class Meta:
        model = Customer
        fields = [
            "id",
            "ref",
            "name",
            "email",
            "reseller",
            "balance",
            "currency",
            "credit_limit",
            "allow_auto_renew",
            "orders_active",
            "orders_suspended",
            "failed_renewals",
        ]
        read_only_fields = fields


class AllowedSerializer(serializers.Serializer):
    allowed = serializers.BooleanField(help_text="whether this customer's orders may renew automatically")
