import datetime

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import path

from audit.admin_kit import ReadOnlyAdmin, money_column
from core.dates import business_today
from renewals.lifecycle import provisioning_run
from renewals.models import (
    BatchAttempt,
    HookState,
    LifecycleEvent,
    OpenRenewal,
    OrderOutcome,
    RenewalPayment,
    SweepRun,
)
from renewals.sweep.run import sweep_run
from tenants.scope import actor_for_user


class RunDateForm(forms.Form):
    date = forms.DateField(initial=business_today, help_text="The business date to run, YYYY-MM-DD.")
    dry_run = forms.BooleanField(
        required=False, initial=True, help_text="Predict only: nothing is written, charged or sent."
    )


@admin.register(SweepRun)
class SweepRunAdmin(ReadOnlyAdmin):
    list_display = (
        "business_date",
        "outcome",
        "triggered_by",
        "started_at",
        "duration_ms",
        "accounts",
        "batches_renewed",
        "batches_failed",
        "batches_pending",
        "orders_renewed",
        "orders_skipped",
        "suspended",
        "terminated",
    )
    list_filter = ("outcome", "triggered_by")
    date_hierarchy = "business_date"
    actions = ("dry_run_dates", "run_dates")
    change_list_template = "admin/renewals/sweeprun/change_list.html"

    def get_urls(self):
        return [
            path("run-date/", self.admin_site.admin_view(self.run_date_view), name="renewals_sweeprun_run_date"),
            *super().get_urls(),
        ]

    def _run(self, request, on: datetime.date, dry_run: bool):
        report = sweep_run(on=on, dry_run=dry_run, actor=actor_for_user(request.user))
        return TemplateResponse(
            request,
            "admin/renewals/sweeprun/report.html",
            {**self.admin_site.each_context(request), "title": report.summary(), "report": report,
             "opts": self.model._meta},
        )  # fmt: skip

    def has_run_permission(self, request) -> bool:
        # The nightly work charges, renews, suspends and sends notices for
        # every account: platform admins only.
        return request.user.is_superuser

    def run_date_view(self, request):
        if not self.has_run_permission(request):
            return TemplateResponse(
                request,
                "admin/permission_denied.html",
                {**self.admin_site.each_context(request), "title": "Run the nightly work for a date",
                 "reason": "Only a platform admin may run the nightly work.", "opts": self.model._meta},
                status=403,
            )  # fmt: skip
        form = RunDateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            return self._run(request, form.cleaned_data["date"], form.cleaned_data["dry_run"])
        return TemplateResponse(
            request,
            "admin/renewals/sweeprun/run_date.html",
            {**self.admin_site.each_context(request), "title": "Run the nightly work for a date", "form": form,
             "opts": self.model._meta},
        )  # fmt: skip

    @admin.action(description="Dry-run the selected dates again (writes nothing)")
    def dry_run_dates(self, request, queryset):
        dates = sorted(set(queryset.values_list("business_date", flat=True)))
        if len(dates) != 1:
            self.message_user(request, "Choose runs of one date to dry-run it.", messages.ERROR)
            return None
        return self._run(request, dates[0], True)

    @admin.action(
        description="Run the selected dates again (idempotent: only what is left is done)", permissions=["run"]
    )
    def run_dates(self, request, queryset):
        for on in sorted(set(queryset.values_list("business_date", flat=True))):
            report = sweep_run(on=on, actor=actor_for_user(request.user))
            self.message_user(request, report.summary(), messages.SUCCESS)


@admin.register(BatchAttempt)
class BatchAttemptAdmin(ReadOnlyAdmin):
    list_display = ("business_date", "customer", "outcome", "reason", money_column("total"), "currency", "invoice")
    list_filter = ("outcome", "reason", "business_date")
    search_fields = ("customer__ref", "customer__name")
    list_select_related = ("customer", "invoice")
    date_hierarchy = "business_date"


@admin.register(RenewalPayment)
class RenewalPaymentAdmin(ReadOnlyAdmin):
    """What each card payment for a renewal claims and holds (the charge
    itself: the payment attempt)."""

    list_display = ("attempt", "batch", money_column("hold", "attempt.currency"), "claimed")
    search_fields = ("attempt__account__customer__ref", "attempt__stripe_payment_intent_id")
    list_select_related = ("attempt", "batch")

    @admin.display(description="claimed orders")
    def claimed(self, payment: RenewalPayment) -> str:
        return ", ".join(line["order_ref"] for line in payment.claim)


@admin.register(OrderOutcome)
class OrderOutcomeAdmin(ReadOnlyAdmin):
    list_display = (
        "business_date",
        "order",
        "cycle",
        "outcome",
        "reason",
        money_column("amount", "attempt.currency"),
        "expires_on",
    )
    list_filter = ("outcome", "reason", "business_date")
    search_fields = ("order__ref",)
    list_select_related = ("order", "attempt")
    date_hierarchy = "business_date"


@admin.register(LifecycleEvent)
class LifecycleEventAdmin(ReadOnlyAdmin):
    list_display = ("business_date", "order", "transition", "cycle", "hook_state", "hook_attempts", "hook_error")
    list_filter = ("transition", "hook_state", "business_date")
    search_fields = ("order__ref",)
    list_select_related = ("order",)
    actions = ("retry_hooks",)

    def has_retry_permission(self, request) -> bool:
        # Events are read-only here; retrying a hook is the one change, for staff who may change events.
        return request.user.has_perm("renewals.change_lifecycleevent")

    @admin.action(description="Retry the provisioning hook of failed events", permissions=["retry"])
    def retry_hooks(self, request, queryset):
        queryset.filter(hook_state=HookState.FAILED).update(hook_attempts=0)
        counts = provisioning_run()
        self.message_user(request, f"Hooks run: {counts['done']} done, {counts['failed']} failed.")


@admin.register(OpenRenewal)
class OpenRenewalAdmin(ReadOnlyAdmin):
    """Renewals waiting for payment (SPEC "Open renewals"): opened by the
    nightly run, closed by the renewal, cancelled at termination or
    do-not-renew; read-only here (they change with their orders)."""

    list_display = (
        "order",
        "customer",
        "cycle",
        "months",
        money_column("amount"),
        "pay_by",
        "status",
        "created_on",
        "closed_on",
        "invoice",
    )
    list_filter = ("status", "pay_by")
    search_fields = ("order__ref", "customer__ref", "customer__name")
    list_select_related = ("order", "customer", "invoice")
    date_hierarchy = "pay_by"
