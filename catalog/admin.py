from django.contrib import admin

from audit.admin_kit import AuditedAdmin
from catalog.models import Category

# The plans' admin checks a price list against the orders that renew at it,
# so it lives above the orders app: staff/admin_plans.py.


@admin.register(Category)
class CategoryAdmin(AuditedAdmin):
    list_display = ("ref", "name", "grace_days", "auto_renew_supported", "renewal_needs_csr")
    list_filter = ("auto_renew_supported", "renewal_needs_csr")
    search_fields = ("ref", "name")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if "renewal_needs_csr" in form.base_fields:
            # SPEC "SSL renewals need a CSR": what the switch does, where it is changed.
            form.base_fields["renewal_needs_csr"].help_text = (
                "Renewing an order of this category by hand asks for a PEM certificate signing request, checked "
                "against the order's domain and handed to the provisioning hook; its orders never renew by "
                "themselves."
            )
        return form
