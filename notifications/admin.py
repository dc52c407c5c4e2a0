from django.contrib import admin
from django.utils.html import format_html

from audit.admin_kit import ReadOnlyAdmin
from notifications.delivery import deliver_pending
from notifications.models import DeliveryState, Notice


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    list_display = ("business_date", "kind", "recipient", "customer", "cycle", "state", "attempts", "sent_at")
    list_filter = ("kind", "state", "business_date")
    search_fields = ("recipient", "customer__ref", "subject")
    list_select_related = ("customer",)
    date_hierarchy = "business_date"
    exclude = ("subject", "body_text", "body_html")
    readonly_fields = ("message",)

    @admin.display(description="Message (as sent, or as it will be sent)")
    def message(self, notice):
        content = notice.rendered()
        return format_html(
            '<p><strong>{}</strong></p><pre class="notice-text">{}</pre>'
            '<iframe sandbox srcdoc="{}" title="HTML version" class="notice-html"></iframe>',
            content.subject,
            content.text,
            content.html,
        )

    actions = ("retry_failed",)

    def has_retry_permission(self, request) -> bool:
        # Notices are read-only here; retrying is the one change, for staff who may change notices.
        return request.user.has_perm("notifications.change_notice")

    @admin.action(description="Retry failed deliveries now", permissions=["retry"])
    def retry_failed(self, request, queryset):
        queryset.filter(state=DeliveryState.FAILED).update(next_attempt_at=None, state=DeliveryState.PENDING)
        # In the request: a short run (the rest goes with the next minute's delivery).
        counts = deliver_pending(seconds=15)
        self.message_user(request, f"Sent {counts['sent']}, failed {counts['failed']}.")
