"""Core's own records in the admin (the faults of the nightly work), the
second factor's devices and the nightly schedule; and the admins that call
an app above their model's (customers opening an account, plans checked
against orders, the operator's actions on orders), in the modules imported
below. Every app's admin builds on audit.admin_kit."""

from django.contrib import admin
from django.utils.html import format_html
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.admin_kit import PermittedActionsMixin, ReadOnlyAdmin
from core.actors import actor_for_user
from core.models import Fault
from core.services import faults_resolve

# Each registers its admins on import (Django's autodiscovery finds admin.py only).
from staff import admin_customers, admin_orders, admin_plans  # noqa: F401
from staff.otp import otp_devices_remove

# The admin's index links the status page (templates/admin/core/index.html).
admin.site.index_template = "admin/core/index.html"


class FaultResolvedFilter(admin.SimpleListFilter):
    title = "resolved"
    parameter_name = "resolved"

    def lookups(self, request, model_admin):
        return (("no", "Open"), ("yes", "Resolved"))

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(Fault)
class FaultAdmin(PermittedActionsMixin, ReadOnlyAdmin):
    """What the nightly work rolled back, item by item (core.isolation): read
    only; an operator who dealt with one marks it resolved (view-only staff
    may not: 403)."""

    list_display = (
        "business_date",
        "stage",
        "label",
        "occurrences",
        "error_line",
        "alerted",
        "resolved",
    )
    list_filter = ("stage", FaultResolvedFilter, "business_date")
    search_fields = ("subject", "label", "error")
    date_hierarchy = "business_date"
    actions = ("mark_resolved",)
    fields = (
        "business_date",
        "stage",
        "subject",
        "label",
        "customer_id",
        "orders",
        "run_id",
        "occurrences",
        "first_seen_at",
        "last_seen_at",
        "alerted_at",
        "resolved_at",
        "resolved_by",
        "error",
        "traceback_block",
    )
    readonly_fields = fields

    @admin.display(description="error")
    def error_line(self, fault: Fault) -> str:
        return fault.error.splitlines()[0] if fault.error else ""

    @admin.display(description="alerted", boolean=True, ordering="alerted_at")
    def alerted(self, fault: Fault) -> bool:
        return fault.alerted_at is not None

    @admin.display(description="resolved", boolean=True, ordering="resolved_at")
    def resolved(self, fault: Fault) -> bool:
        return fault.resolved_at is not None

    @admin.display(description="traceback")
    def traceback_block(self, fault: Fault) -> str:
        return format_html('<pre class="fault-traceback">{}</pre>', fault.traceback or "(none recorded)")

    def has_resolve_permission(self, request) -> bool:
        # Resolving is the one change an operator makes to a fault; a staff
        # user who may only view faults may not.
        return request.user.has_perm("core.change_fault")

    @admin.action(description="Mark resolved", permissions=["resolve"])
    def mark_resolved(self, request, queryset):
        count = faults_resolve(actor=actor_for_user(request.user), ids=queryset.values_list("pk", flat=True))
        self.message_user(request, f"Marked {count} fault(s) resolved.")


# --- The second factor's devices (staff.otp) ---


class OTPDeviceAdmin:
    """Staff enrol themselves (staff.otp_views), so a secret is only ever seen by
    its owner. Here a platform admin sees who has which device and removes a
    lost one (the owner then enrols afresh): no adding or editing, and never
    the key, the QR code or the recovery codes, whatever
    OTP_ADMIN_HIDE_SENSITIVE_DATA says."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_list_display(self, request):
        return [name for name in super().get_list_display(request) if name != "qrcode_link"]

    def get_fieldsets(self, request, obj=None):
        hidden = {"key", "qrcode_link"}
        return [
            (title, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
            for title, options in super().get_fieldsets(request, obj)
        ]

    def get_inline_instances(self, request, obj=None):
        return []  # a static device's inline lists its recovery codes

    def get_urls(self):
        # Without django-otp's pages showing an existing device's key and QR code.
        return admin.ModelAdmin.get_urls(self)

    def delete_model(self, request, obj):
        otp_devices_remove(actor=actor_for_user(request.user), devices=[obj], reason="removed in the admin")

    def delete_queryset(self, request, queryset):
        devices = list(queryset.select_related("user").order_by("pk"))
        otp_devices_remove(actor=actor_for_user(request.user), devices=devices, reason="removed in the admin")


class PortalTOTPDeviceAdmin(OTPDeviceAdmin, TOTPDeviceAdmin):
    pass


class PortalStaticDeviceAdmin(OTPDeviceAdmin, StaticDeviceAdmin):
    pass


# --- The schedule of the nightly work (django-celery-beat) ---


class PortalPeriodicTaskAdmin(PeriodicTaskAdmin):
    """django-celery-beat's actions declare no permission, so view-only staff
    could pause the nightly work or run it: here they need to change tasks,
    and running one (the sweep charges and renews) is for platform admins
    only, as in renewals/admin.py."""

    def has_run_permission(self, request) -> bool:
        return request.user.is_superuser

    @admin.action(description="Enable selected tasks", permissions=["change"])
    def enable_tasks(self, request, queryset):
        return super().enable_tasks(request, queryset)

    @admin.action(description="Disable selected tasks", permissions=["change"])
    def disable_tasks(self, request, queryset):
        return super().disable_tasks(request, queryset)

    @admin.action(description="Toggle activity of selected tasks", permissions=["change"])
    def toggle_tasks(self, request, queryset):
        return super().toggle_tasks(request, queryset)

    @admin.action(description="Run selected tasks", permissions=["run"])
    def run_tasks(self, request, queryset):
        return super().run_tasks(request, queryset)


# Third-party admins registered before this module (INSTALLED_APPS order), replaced.
for _model, _admin_class in (
    (TOTPDevice, PortalTOTPDeviceAdmin),
    (StaticDevice, PortalStaticDeviceAdmin),
    (PeriodicTask, PortalPeriodicTaskAdmin),
):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin_class)
