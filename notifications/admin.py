from django.contrib import admin

from core.admin import ReadOnlyAdmin
from notifications.delivery import deliver_pending
from notifications.models import DeliveryState, Notice


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    list_display = ("business_date", "kind", "recipient", "customer", "cycle", "state", "attempts", "sent_at")
    list_filter = ("kind", "state", "business_date")
    search_fields = ("recipient", "customer__ref", "subject")
    list_select_related = ("customer",)
    date_hierarchy = "business_date"

    actions = ("retry_failed",)

    @admin.action(description="Retry failed deliveries now")
    def retry_failed(self, request, queryset):
        queryset.filter(state=DeliveryState.FAILED).update(next_attempt_at=None, state=DeliveryState.PENDING)
        counts = deliver_pending()
        self.message_user(request, f"Sent {counts['sent']}, failed {counts['failed']}.")
