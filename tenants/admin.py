from django.contrib import admin

from audit.admin_kit import AuditedAdmin
from tenants.models import Membership, Reseller
from tenants.scope import actor_for_user
from tenants.services import reseller_create, reseller_paths_rebuild


@admin.register(Reseller)
class ResellerAdmin(AuditedAdmin):
    list_display = ("ref", "name", "email", "parent", "allow_auto_renew", "invoice_prefix")
    list_filter = ("allow_auto_renew",)
    search_fields = ("ref", "name", "email")
    list_select_related = ("parent",)
    readonly_fields = ("path",)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            reseller_paths_rebuild()
            return
        reseller_create(
            actor=actor_for_user(request.user),
            ref=obj.ref,
            name=obj.name,
            email=obj.email,
            parent=obj.parent,
            allow_auto_renew=obj.allow_auto_renew,
            invoice_prefix=obj.invoice_prefix,
        )


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "customer", "reseller")
    search_fields = ("user__username", "customer__ref", "reseller__ref")
    list_select_related = ("user", "customer", "reseller")
    raw_id_fields = ("user", "customer")
