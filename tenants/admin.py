from django import forms
from django.contrib import admin

from audit.admin_kit import AuditedAdmin
from tenants.models import Membership, Reseller
from tenants.rules import retry_days_normal, retry_policy_problem
from tenants.scope import actor_for_user
from tenants.services import reseller_create, reseller_paths_rebuild, reseller_set_retry_policy


class ResellerForm(forms.ModelForm):
    """The retry policy checked by the rule every door uses (docs/dunning.md)."""

    class Meta:
        model = Reseller
        fields = (
            "ref",
            "name",
            "email",
            "parent",
            "allow_auto_renew",
            "invoice_prefix",
            "retry_own",
            "retry_days",
            "last_chance_day",
        )
        help_texts = {
            "retry_days": "Its own policy: null (every night of the window) or days before expiry, e.g. [7, 3, 1, 0].",
            "last_chance_day": "Its own policy: the night (days before expiry) whose failure sends the last chance.",
        }

    def clean(self):
        data = super().clean()
        if "retry_days" not in data or "last_chance_day" not in data:
            return data  # a field's own error is shown already
        if not data.get("retry_own"):
            data["retry_days"], data["last_chance_day"] = None, 0
            return data
        problem = retry_policy_problem(data["retry_days"], data["last_chance_day"])
        if problem:
            self.add_error("last_chance_day" if problem.startswith("last_chance_day") else "retry_days", problem)
        else:
            data["retry_days"] = retry_days_normal(data["retry_days"])
        return data


@admin.register(Reseller)
class ResellerAdmin(AuditedAdmin):
    form = ResellerForm
    list_display = ("ref", "name", "email", "parent", "allow_auto_renew", "invoice_prefix", "retry_policy")
    list_filter = ("allow_auto_renew", "retry_own")
    search_fields = ("ref", "name", "email")
    list_select_related = ("parent",)
    readonly_fields = ("path",)

    @admin.display(description="retry policy")
    def retry_policy(self, obj):
        if not obj.retry_own:
            return "inherits"
        days = "every night" if obj.retry_days is None else ", ".join(map(str, obj.retry_days)) + " days before"
        return f"{days}; last chance {obj.last_chance_day} days before"

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            reseller_paths_rebuild()
            return
        actor = actor_for_user(request.user)
        created = reseller_create(
            actor=actor,
            ref=obj.ref,
            name=obj.name,
            email=obj.email,
            parent=obj.parent,
            allow_auto_renew=obj.allow_auto_renew,
            invoice_prefix=obj.invoice_prefix,
        )
        if obj.retry_own:
            reseller_set_retry_policy(
                actor=actor,
                reseller_id=created.pk,
                retry_own=True,
                retry_days=obj.retry_days,
                last_chance_day=obj.last_chance_day,
                reason="admin",
            )
        obj.pk = created.pk


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "customer", "reseller")
    search_fields = ("user__username", "customer__ref", "reseller__ref")
    list_select_related = ("user", "customer", "reseller")
    raw_id_fields = ("user", "customer")
