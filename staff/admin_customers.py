"""The customers in the admin. Here, at the top of the layers, because adding
one opens its account too (balances.services.customer_open), which the
tenants app sits below."""

from django import forms
from django.contrib import admin

from audit.admin_kit import AuditedAdmin
from balances.services import customer_open
from core.errors import DomainError
from tenants.models import Customer, Reseller
from tenants.scope import actor_for_user
from tenants.services import customer_set_owner_reseller, customer_set_retry_exempt, own_account_check


class CustomerForm(forms.ModelForm):
    """Whose own account this is (``owner_reseller``) is checked by the
    service's own rule before anything is saved, its sentence shown at the
    field (tenants.services.own_account_check)."""

    class Meta:
        model = Customer
        fields = ["ref", "name", "email", "reseller", "allow_auto_renew", "owner_reseller"]
        help_texts = {
            "owner_reseller": (
                "Set when this account is a reseller's own: that reseller's staff renew its orders under "
                '"Our orders". It is held with the reseller above the owner.'
            )
        }

    def clean(self):
        data = super().clean()
        seller, owner = data.get("reseller"), data.get("owner_reseller")
        if seller is not None and "owner_reseller" not in self.errors:
            try:
                own_account_check(customer_id=self.instance.pk, seller=seller, owner=owner)
            except DomainError as exc:
                self.add_error("owner_reseller", str(exc))
        return data


@admin.register(Customer)
class CustomerAdmin(AuditedAdmin):
    form = CustomerForm
    list_display = ("ref", "name", "email", "reseller", "owner_reseller", "balance", "currency", "allow_auto_renew")
    list_filter = ("allow_auto_renew", "reseller")
    search_fields = ("ref", "name", "email")
    list_select_related = ("reseller", "owner_reseller", "account")

    @admin.display(ordering="account__balance")
    def balance(self, obj):
        return obj.account.balance

    @admin.display(ordering="account__currency")
    def currency(self, obj):
        return obj.account.currency

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        actor = actor_for_user(request.user)
        created = customer_open(
            actor=actor,
            ref=obj.ref,
            name=obj.name,
            email=obj.email,
            reseller=obj.reseller,
            allow_auto_renew=obj.allow_auto_renew,
        )
        if obj.owner_reseller is not None:
            customer_set_owner_reseller(actor=actor, customer_id=created.pk, owner=obj.owner_reseller, reason="admin")
        if obj.retry_exempt:
            customer_set_retry_exempt(actor=actor, customer_id=created.pk, exempt=True)
        obj.pk = created.pk

    def save_changes(self, request, stored, changes: dict) -> None:
        # Whose own account it is goes through its service (checked, audited),
        # after the rest (the seller it is checked against may be among them).
        owner_changed = "owner_reseller_id" in changes
        owner_id = changes.pop("owner_reseller_id", None)
        if changes:
            super().save_changes(request, stored, changes)
        if owner_changed:
            customer_set_owner_reseller(
                actor=actor_for_user(request.user),
                customer_id=stored.pk,
                owner=Reseller.objects.get(pk=owner_id) if owner_id else None,
                reason="admin",
            )
