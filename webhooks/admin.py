"""Read-only lists of the webhook endpoints, events and deliveries, with a
redeliver action (for staff who may change deliveries). Never a secret."""

from django.contrib import admin, messages

from audit.admin_kit import ReadOnlyAdmin
from webhooks.models import Delivery, Endpoint, Event
from webhooks.services import deliveries_redeliver_admin


@admin.register(Endpoint)
class EndpointAdmin(ReadOnlyAdmin):
    list_display = ("url", "reseller", "enabled", "failing_since", "disabled_at", "created_at")
    list_filter = ("enabled",)
    search_fields = ("url", "reseller__ref", "reseller__name")
    list_select_related = ("reseller",)
    exclude = ("secret",)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "type", "reseller", "customer", "created_at")
    list_filter = ("type",)
    search_fields = ("public_id", "key", "customer__ref")
    list_select_related = ("reseller", "customer")
    date_hierarchy = "created_at"


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("event", "endpoint", "state", "attempts", "last_status", "next_attempt_at", "delivered_at")
    list_filter = ("state",)
    search_fields = ("event__public_id", "endpoint__url")
    list_select_related = ("event", "endpoint")
    actions = ("redeliver",)

    def has_redeliver_permission(self, request) -> bool:
        return request.user.has_perm("webhooks.change_delivery")

    @admin.action(description="Redeliver now (same event id)", permissions=["redeliver"])
    def redeliver(self, request, queryset):
        count = deliveries_redeliver_admin(queryset.values_list("pk", flat=True))
        messages.success(request, f"{count} deliveries queued again; they go out within a minute.")
