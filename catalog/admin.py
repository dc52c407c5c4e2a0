from django.contrib import admin

from audit.admin_kit import AuditedAdmin
from catalog.models import Category

# The plans' admin checks a price list against the orders that renew at it,
# so it lives above the orders app: staff/admin_plans.py.


@admin.register(Category)
class CategoryAdmin(AuditedAdmin):
    list_display = ("ref", "name", "grace_days", "auto_renew_supported")
    list_filter = ("auto_renew_supported",)
    search_fields = ("ref", "name")
