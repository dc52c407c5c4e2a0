from django.contrib import admin, messages

from core.admin import ReadOnlyAdmin
from payments.models import AttemptState, Card, PaymentAttempt, WebhookEvent
from payments.services import payment_attempts_reconcile
from tenants.scope import actor_for_user


@admin.register(Card)
class CardAdmin(ReadOnlyAdmin):
    list_display = ("account", "brand", "last4", "exp_month", "exp_year", "is_default", "stripe_payment_method_id")
    list_filter = ("brand", "is_default")
    search_fields = ("account__customer__ref", "account__customer__name", "last4", "stripe_payment_method_id")
    list_select_related = ("account__customer",)


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "account",
        "purpose",
        "amount",
        "currency",
        "state",
        "stripe_payment_intent_id",
        "error",
    )
    list_filter = ("state", "purpose", "business_date")
    search_fields = ("account__customer__ref", "stripe_payment_intent_id", "idempotency_key")
    list_select_related = ("account__customer",)
    actions = ("reconcile",)

    @admin.action(description="Reconcile unknown attempts with Stripe (never charges again)")
    def reconcile(self, request, queryset):
        if not queryset.filter(state=AttemptState.UNKNOWN).exists():
            self.message_user(request, "None of the selected attempts is unknown.", messages.WARNING)
            return
        counts = payment_attempts_reconcile(actor=actor_for_user(request.user))
        self.message_user(request, f"Settled {counts['settled']}; still unknown {counts['still_unknown']}.")


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "type", "event_id")
    list_filter = ("type",)
    search_fields = ("event_id",)
