"""The customers in the admin. Here, at the top of the layers, because adding
one opens its account too (balances.services.customer_open), which the
tenants app sits below."""

from django.contrib import admin

from audit.admin_kit import AuditedAdmin
from balances.services import customer_open
from tenants.models import Customer
from tenants.scope import actor_for_user


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
        created = customer_open(
            actor=actor_for_user(request.user),
            ref=obj.ref,
            name=obj.name,
            email=obj.email,
            reseller=obj.reseller,
            allow_auto_renew=obj.allow_auto_renew,
        )
        obj.pk = created.pk
