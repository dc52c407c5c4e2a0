from django.contrib import admin

from core.admin import AuditedAdmin
from tenants.models import Customer, Membership, Reseller
from tenants.scope import actor_for_user
from tenants.services import customer_create, reseller_create, reseller_paths_rebuild


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


@admin.register(Customer)
class CustomerAdmin(AuditedAdmin):
    list_display = ("ref", "name", "email", "reseller", "balance", "currency", "allow_auto_renew")
    list_filter = ("allow_auto_renew", "reseller")
    search_fields = ("ref", "name", "email")
    list_select_related = ("reseller", "account")

    @admin.display(ordering="account__balance")
    def balance(self, obj):
        return obj.account.balance

    @admin.display(ordering="account__currency")
    def currency(self, obj):
        return obj.account.currency

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        created = customer_create(
            actor=actor_for_user(request.user),
            ref=obj.ref,
            name=obj.name,
            email=obj.email,
            reseller=obj.reseller,
            allow_auto_renew=obj.allow_auto_renew,
        )
        obj.pk = created.pk


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "customer", "reseller")
    search_fields = ("user__username", "customer__ref", "reseller__ref")
    list_select_related = ("user", "customer", "reseller")
    raw_id_fields = ("user", "customer")
