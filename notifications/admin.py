from django.contrib import admin

from core.admin import ReadOnlyAdmin
from notifications.models import Notice


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    list_display = ("business_date", "kind", "recipient", "customer", "cycle", "state", "attempts", "sent_at")
    list_filter = ("kind", "state", "business_date")
    search_fields = ("recipient", "customer__ref", "subject")
    list_select_related = ("customer",)
    date_hierarchy = "business_date"
