"""The acting customer's account: balance and master switch, ledger,
card top-ups and saved cards."""

from decimal import Decimal

from rest_framework import serializers

from api.fields import AmountField
from api.parsers import MAX_AMOUNT, DecimalField, IntegerField
from balances.models import Account, EntryKind, LedgerEntry
from core.errors import DomainError
from payments.models import Card, PaymentAttempt
from payments.services import top_up_amount_check


class BalanceSerializer(serializers.ModelSerializer):
    balance = AmountField()
    credit_limit = AmountField()
    held = AmountField(help_text="reserved for card payments in progress")
    available = AmountField(help_text="balance - held + credit_limit: what a renewal may use")
    auto_renew = serializers.BooleanField(help_text="the account's master auto-renew switch")
    renewal_day = serializers.IntegerField(
        allow_null=True, help_text="the standing renewal day: manual renewals align to it by default (null: none)"
    )

    class Meta:
        model = Account
        fields = ["balance", "credit_limit", "held", "available", "currency", "auto_renew", "renewal_day"]
        read_only_fields = fields


class BalanceChangeSerializer(serializers.Serializer):
    """The account's settings a customer changes: either or both."""

    auto_renew = serializers.BooleanField(
        required=False, help_text="the master switch: off, no order renews automatically"
    )
    renewal_day = IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=31,
        help_text="the standing renewal day (1-31) manual renewals align to by default; null for none",
    )

    def validate(self, data: dict) -> dict:
        if not data:  # named as before renewal_day existed: clients read auto_renew's error
            raise serializers.ValidationError({"auto_renew": ["This field is required, unless renewal_day is sent."]})
        return data


class LedgerEntrySerializer(serializers.ModelSerializer):
    # A string, not an enum, in the schema: the messages' "kind" is one, and two
    # enums of one name would clash (see the entries' codes in the help text).
    kind = serializers.CharField(help_text=f"one of {', '.join(EntryKind.values)}")
    amount = AmountField(currency="account.currency", help_text="credits positive, debits negative")
    balance_after = AmountField(currency="account.currency")

    class Meta:
        model = LedgerEntry
        fields = ["id", "kind", "amount", "balance_after", "business_date", "reference", "memo"]
        read_only_fields = fields


class TopUpSerializer(serializers.Serializer):
    # Three places at most (KWD); the service refuses an amount finer than the
    # account's own currency or below the card processor's minimum, saying which.
    amount = DecimalField(
        max_digits=20,
        decimal_places=3,
        min_value=Decimal("0.001"),
        max_value=MAX_AMOUNT,
        help_text="charged to the default card, in the account's currency; at least the processor's minimum",
    )

    def validate_amount(self, amount: Decimal) -> Decimal:
        """In the context's ``currency``: the service's rule, as this field's error."""
        try:
            return top_up_amount_check(amount, self.context["currency"])
        except DomainError as exc:
            raise serializers.ValidationError(str(exc)) from exc


class PaymentAttemptSerializer(serializers.ModelSerializer):
    amount = AmountField()

    class Meta:
        model = PaymentAttempt
        fields = ["id", "state", "amount", "currency", "error"]
        read_only_fields = fields


class CardSerializer(serializers.ModelSerializer):
    class Meta:
        model = Card
        fields = ["id", "brand", "last4", "exp_month", "exp_year", "is_default"]
        read_only_fields = fields
