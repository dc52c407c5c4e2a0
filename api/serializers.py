"""Output shapes shared by several endpoints. Serializers only shape data:
the rules live in the services and selectors they are given results of."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import AmountField
from api.parsers import MAX_AMOUNT, DecimalField, IntegerField
from balances.models import Account, EntryKind, LedgerEntry
from core.errors import DomainError
from core.parse import MAX_ID
from invoices.models import Invoice, InvoiceLine
from notifications.models import Notice
from orders.models import Order, PaymentSource
from orders.periods import days_remaining
from orders.selectors import EXPIRING_WITHIN_MAX, SORT_KEYS
from orders.states import OrderStatus
from payments.models import Card, PaymentAttempt
from payments.services import top_up_amount_check
from renewals.rules import Reason
from tenants.models import Customer


class InvoiceLineSerializer(serializers.ModelSerializer):
    order = serializers.CharField(source="order.ref", help_text="the order's ref")
    order_id = serializers.IntegerField()
    # Declared: the model field's bounds differ by database, the schema must not.
    months = serializers.IntegerField(min_value=1)
    amount = AmountField(currency="invoice.currency")

    class Meta:
        model = InvoiceLine
        fields = ["order_id", "order", "description", "period_start", "period_end", "months", "amount"]


class InvoiceSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer.ref", help_text="the customer's ref")
    lines = InvoiceLineSerializer(many=True)
    total = AmountField()

    class Meta:
        model = Invoice
        fields = ["id", "number", "customer", "currency", "total", "business_date", "source", "lines"]


# --- Query strings: types and ranges only (the selectors apply them). ---


class CustomerQuery(serializers.Serializer):
    q = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="part of the name, ref or email"
    )
    failing = serializers.BooleanField(
        required=False, default=False, help_text="only customers with a failed renewal this cycle"
    )


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


# --- Customers (resellers' view of their subtree) ---


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


# --- Orders ---

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


# --- The customer's account ---


class BalanceSerializer(serializers.ModelSerializer):
    balance = AmountField()
    credit_limit = AmountField()
    held = AmountField(help_text="reserved for card payments in progress")
    available = AmountField(help_text="balance - held + credit_limit: what a renewal may use")
    auto_renew = serializers.BooleanField(help_text="the account's master auto-renew switch")

    class Meta:
        model = Account
        fields = ["balance", "credit_limit", "held", "available", "currency", "auto_renew"]
        read_only_fields = fields


class BalanceChangeSerializer(serializers.Serializer):
    auto_renew = serializers.BooleanField(help_text="the master switch: off, no order renews automatically")


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


# --- Messages (the notices) ---


class MessageSerializer(serializers.ModelSerializer):
    subject = serializers.SerializerMethodField()
    customer = serializers.CharField(source="customer.ref", help_text="the customer it is about")
    orders = serializers.ListField(source="order_refs", child=serializers.CharField(), help_text="the orders' refs")
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notice
        fields = ["id", "kind", "subject", "customer", "business_date", "orders", "read"]
        read_only_fields = fields

    def get_subject(self, notice) -> str:
        return self._content(notice).subject

    def get_read(self, notice) -> bool:
        return notice.read_at is not None

    def _content(self, notice):
        """What the notice says, rendered once per notice and response."""
        rendered = self.context.setdefault("rendered", {})
        if notice.pk not in rendered:
            rendered[notice.pk] = notice.rendered()
        return rendered[notice.pk]


class MessageDetailSerializer(MessageSerializer):
    text = serializers.SerializerMethodField()
    html = serializers.SerializerMethodField()

    class Meta(MessageSerializer.Meta):
        fields = [*MessageSerializer.Meta.fields, "text", "html"]
        read_only_fields = fields

    def get_text(self, notice) -> str:
        return self._content(notice).text

    def get_html(self, notice) -> str:
        return self._content(notice).html


# --- Tonight's sweep (resellers) ---


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
