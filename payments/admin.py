from django import forms
from django.contrib import admin, messages

from audit.admin_kit import PermittedActionsMixin, ReadOnlyAdmin, ReasonForm, confirm_and_apply, money_column
from core.money import format_money
from payments.charges import payment_attempt_decide, payment_attempts_reconcile
from payments.models import AttemptState, Card, PaymentAttempt, ProcessorMovement, WebhookEvent
from payments.refunds import payment_refund, refundable
from payments.rules import reconcile_delay
from payments.selectors import attempts_awaiting_decision
from tenants.scope import actor_for_user


@admin.register(Card)
class CardAdmin(ReadOnlyAdmin):
    list_display = ("account", "brand", "last4", "exp_month", "exp_year", "is_default", "stripe_payment_method_id")
    list_filter = ("brand", "is_default")
    search_fields = ("account__customer__ref", "account__customer__name", "last4", "stripe_payment_method_id")
    list_select_related = ("account__customer",)


class AwaitingDecisionFilter(admin.SimpleListFilter):
    title = "awaiting a decision"
    parameter_name = "awaiting"

    def lookups(self, request, model_admin):
        return (("yes", "Open longer than the reconcile delay"),)

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(pk__in=attempts_awaiting_decision().values("pk"))
        return queryset


class PaidForm(ReasonForm):
    payment_intent_id = forms.CharField(
        max_length=100,
        required=False,
        label="PaymentIntent id",
        help_text="The charge found at Stripe (pi_...), recorded when the attempt has none.",
    )


DECIDE_INTRO = (
    "Check each attempt at Stripe first (its PaymentIntent, or an intent whose metadata names the attempt). "
    "The decision settles it the way a webhook or reconciliation would: a renewal paid renews its orders; "
    "one failed releases its hold and its orders. It is audited with your reason."
)


class RefundForm(ReasonForm):
    # Up to 3 places (KWD, BHD); each payment refuses an amount finer than its
    # own currency's minor unit (payments.refunds.payment_refund says which).
    amount = forms.DecimalField(
        max_digits=20,
        decimal_places=3,
        min_value=0,
        required=False,
        help_text="In the payment's currency. Leave empty to refund all that is left of each payment.",
    )


REFUND_INTRO = (
    "The refund goes to the card at Stripe and is posted to the customer's ledger (kind refund). It is refused "
    "beyond what is left of a payment, and beyond what the account can give back without going below its credit "
    "limit (money already spent on renewals)."
)


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(PermittedActionsMixin, ReadOnlyAdmin):
    list_display = (
        "created_at",
        "account",
        "purpose",
        money_column("amount"),
        "currency",
        "state",
        "stripe_payment_intent_id",
        "error",
    )
    list_filter = (AwaitingDecisionFilter, "state", "purpose", "business_date")
    search_fields = ("account__customer__ref", "stripe_payment_intent_id", "idempotency_key")
    list_select_related = ("account__customer",)
    actions = ("reconcile", "settle_paid", "settle_failed", "refund")

    def has_reconcile_permission(self, request) -> bool:
        # Reconciling settles open attempts by Stripe's answer (crediting
        # balances): staff who may change payment attempts, not only view them.
        return request.user.has_perm("payments.change_paymentattempt")

    @admin.action(description="Reconcile open attempts with Stripe (never charges again)", permissions=["reconcile"])
    def reconcile(self, request, queryset):
        if not queryset.filter(state__in=[AttemptState.PENDING, AttemptState.UNKNOWN]).exists():
            self.message_user(request, "None of the selected attempts is open.", messages.WARNING)
            return
        counts = payment_attempts_reconcile(actor=actor_for_user(request.user))
        self.message_user(request, f"Settled {counts['settled']}; still open {counts['still_unknown']}.")

    def has_decide_permission(self, request) -> bool:
        return request.user.has_perm("payments.decide_paymentattempt")

    @admin.action(description="Settle as paid (after checking at Stripe; with a reason)", permissions=["decide"])
    def settle_paid(self, request, queryset):
        return self._decide(request, queryset, AttemptState.SUCCEEDED, "settle_paid", PaidForm, "Settle as paid")

    @admin.action(description="Settle as failed (after checking at Stripe; with a reason)", permissions=["decide"])
    def settle_failed(self, request, queryset):
        return self._decide(request, queryset, AttemptState.FAILED, "settle_failed", ReasonForm, "Settle as failed")

    def has_refund_permission(self, request) -> bool:
        return request.user.has_perm("payments.refund_paymentattempt")

    @admin.action(description="Refund to the card (part or whole; with a reason)", permissions=["refund"])
    def refund(self, request, queryset):
        attempts = queryset.select_related("account__customer")
        left = "; ".join(
            f"attempt {a.pk}: {format_money(refundable(a), a.currency)} of {format_money(a.amount, a.currency)}"
            for a in attempts.filter(state=AttemptState.SUCCEEDED).order_by("pk")
        )
        return confirm_and_apply(
            self,
            request,
            attempts,
            action="refund",
            form_class=RefundForm,
            title="Refund to the card",
            intro=f"{REFUND_INTRO} Left to refund: {left or 'nothing (no payment that succeeded is selected)'}.",
            apply=lambda actor, attempt, data: payment_refund(
                actor=actor, attempt_id=attempt.pk, amount=data.get("amount"), reason=data["reason"]
            ),
        )

    def _decide(self, request, queryset, state, action, form_class, title):
        minutes = int(reconcile_delay().total_seconds() // 60)
        return confirm_and_apply(
            self,
            request,
            queryset.select_related("account__customer"),
            action=action,
            form_class=form_class,
            title=title,
            intro=f"{DECIDE_INTRO} Only attempts open for more than {minutes} minutes can be decided.",
            apply=lambda actor, attempt, data: payment_attempt_decide(
                actor=actor,
                attempt_id=attempt.pk,
                state=state,
                reason=data["reason"],
                payment_intent_id=data.get("payment_intent_id", ""),
            ),
        )


@admin.register(ProcessorMovement)
class ProcessorMovementAdmin(ReadOnlyAdmin):
    """Refunds and disputes of card payments, each with its ledger entry."""

    list_display = (
        "created_at",
        "account",
        "kind",
        "origin",
        money_column("amount"),
        "currency",
        "state",
        "processor_id",
        "attempt",
        "requested_by",
        "alerted_at",
    )
    list_filter = ("kind", "origin", "state", "business_date")
    search_fields = ("account__customer__ref", "processor_id", "attempt__stripe_payment_intent_id")
    list_select_related = ("account__customer", "attempt")


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "type", "event_id")
    list_filter = ("type",)
    search_fields = ("event_id",)
