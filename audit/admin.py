from django.contrib import admin

from audit.admin_kit import ReadOnlyAdmin
from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = (
        "occurred_at",
        "business_date",
        "actor_label",
        "address",
        "action",
        "target_ref",
        "before",
        "after",
        "reason",
    )
    list_filter = ("action", "target_type", "actor_label")
    search_fields = ("target_ref", "action", "actor_label", "address", "reason")
    date_hierarchy = "occurred_at"
