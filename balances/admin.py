from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from audit.admin_kit import AuditedAdmin, PermittedActionsMixin, ReadOnlyAdmin, money_column
from balances.models import Account, EntryKind, LedgerEntry
from balances.rules import credit_limit_problem
from balances.services import account_update, ledger_post
from core.errors import DomainError
from core.money import is_currency, quantize
from tenants.scope import actor_for_user


class AccountForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = ("currency", "credit_limit", "auto_renew", "stripe_customer_id", "stripe_payment_method_id")

    def clean_currency(self):
        currency = self.cleaned_data["currency"]
        if not is_currency(currency):
            raise forms.ValidationError(f"{currency!r} is not an ISO 4217 currency code such as USD")
        return currency

    def clean_credit_limit(self):
        limit = self.cleaned_data["credit_limit"]
        currency = self.cleaned_data.get("currency")
        if currency is None:
            return limit  # the currency's own error is shown
        # What the processor took below the limit does not count (balances.services.account_update).
        problem = credit_limit_problem(self.instance.balance + self.instance.overdrawn, limit, currency)
        if problem:
            raise forms.ValidationError(problem)
        return quantize(limit, currency)


class AdjustmentForm(forms.Form):
    # Up to 3 places (KWD, BHD); each account refuses an amount finer than its
    # own currency's minor unit (balances.services.ledger_post says which).
    amount = forms.DecimalField(
        max_digits=20,
        decimal_places=3,
        help_text="In each account's currency. Positive to credit the account, negative to debit it.",
    )
    reason = forms.CharField(max_length=500, help_text="Shown in the ledger and the audit log.")

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("An adjustment moves money: enter a non-zero amount.")
        return amount


@admin.register(Account)
class AccountAdmin(PermittedActionsMixin, AuditedAdmin):
    form = AccountForm
    list_display = (
        "customer",
        "currency",
        money_column("balance"),
        money_column("credit_limit"),
        money_column("available"),
        "auto_renew",
    )
    list_filter = ("currency", "auto_renew", "customer__reseller")
    search_fields = ("customer__ref", "customer__name", "customer__email")
    list_select_related = ("customer",)
    # The balance moves only by ledger entries (an adjustment below, with its
    # reason); what card payments hold, only with them.
    readonly_fields = ("customer", "balance", "held", "overdrawn")
    actions = ("post_adjustment",)

    def has_add_permission(self, request):
        # An account is opened with its customer.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_changes(self, request, stored, changes):
        account_update(actor=actor_for_user(request.user), account_id=stored.pk, reason="admin", **changes)

    @admin.action(description="Post a balance adjustment (with a reason)", permissions=["change"])
    def post_adjustment(self, request, queryset):
        form = AdjustmentForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            actor = actor_for_user(request.user)
            done = 0
            for account in queryset.order_by("pk"):
                try:
                    ledger_post(
                        actor=actor,
                        account_id=account.pk,
                        amount=Decimal(form.cleaned_data["amount"]),
                        kind=EntryKind.ADJUSTMENT,
                        memo=form.cleaned_data["reason"],
                    )
                    done += 1
                except DomainError as exc:
                    self.message_user(request, str(exc), messages.ERROR)
            if done:
                self.message_user(request, f"Posted the adjustment to {done} account(s).", messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "admin/balances/adjustment.html",
            {
                **self.admin_site.each_context(request),
                "title": "Post a balance adjustment",
                "form": form,
                "accounts": queryset.select_related("customer"),
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "business_date",
        "account",
        "kind",
        money_column("amount", "account.currency"),
        money_column("balance_after", "account.currency"),
        "reference",
        "memo",
        "actor_label",
    )
    list_filter = ("kind", "business_date")
    search_fields = ("account__customer__ref", "account__customer__name", "reference", "memo")
    list_select_related = ("account__customer",)
    date_hierarchy = "business_date"
