from django.contrib import admin, messages

from core.admin import AuditedAdmin
from core.dates import business_today
from core.errors import DomainError
from orders.models import Order
from orders.services import EDITABLE_FIELDS, order_set_flags, order_transition
from orders.states import OrderStatus
from tenants.scope import ActorKind, actor_for_user


@admin.register(Order)
class OrderAdmin(AuditedAdmin):
    list_display = (
        "ref",
        "customer",
        "plan",
        "status",
        "expires_on",
        "days_remaining",
        "tenure_months",
        "auto_renew",
        "auto_renew_locked",
        "payment_source",
        "locked",
        "stopped",
        "pending_action",
        "do_not_renew",
    )
    list_filter = (
        "status",
        "plan__category",
        "auto_renew",
        "payment_source",
        "locked",
        "stopped",
        "pending_action",
        "do_not_renew",
    )
    search_fields = ("ref", "customer__ref", "customer__name", "plan__ref")
    list_select_related = ("customer", "plan")
    raw_id_fields = ("customer",)
    date_hierarchy = "expires_on"
    # The status moves only through the lifecycle (the actions below).
    readonly_fields = ("status", "created_at", "updated_at")
    actions = ("lock_orders", "unlock_orders", "suspend_orders", "restore_orders", "terminate_orders")

    @admin.display(description="days remaining")
    def days_remaining(self, obj):
        if obj.expires_on is None:
            return "endless"
        return (obj.expires_on - business_today()).days

    def save_changes(self, request, stored, changes):
        actor = actor_for_user(request.user)
        flags = {k: v for k, v in changes.items() if k in EDITABLE_FIELDS[ActorKind.PLATFORM]}
        if flags:
            order_set_flags(actor=actor, order_id=stored.pk, reason="admin", **flags)
            stored.refresh_from_db()
        rest = {k: v for k, v in changes.items() if k not in flags}
        super().save_changes(request, stored, rest)

    def _each(self, request, queryset, verb, call):
        done, errors = 0, []
        for order in queryset.order_by("pk"):
            try:
                call(actor_for_user(request.user), order)
                done += 1
            except DomainError as exc:
                errors.append(str(exc))
        if done:
            self.message_user(request, f"{verb} {done} order(s).", messages.SUCCESS)
        for error in errors:
            self.message_user(request, error, messages.ERROR)

    @admin.action(description="Lock selected orders (provider lock)")
    def lock_orders(self, request, queryset):
        self._each(request, queryset, "Locked", lambda a, o: order_set_flags(actor=a, order_id=o.pk, locked=True))

    @admin.action(description="Unlock selected orders")
    def unlock_orders(self, request, queryset):
        self._each(request, queryset, "Unlocked", lambda a, o: order_set_flags(actor=a, order_id=o.pk, locked=False))

    def _move(self, request, queryset, to, verb):
        self._each(
            request,
            queryset,
            verb,
            lambda a, o: order_transition(actor=a, order_id=o.pk, to=to, reason="admin"),
        )

    @admin.action(description="Suspend selected orders")
    def suspend_orders(self, request, queryset):
        self._move(request, queryset, OrderStatus.SUSPENDED, "Suspended")

    @admin.action(description="Restore selected suspended orders to active")
    def restore_orders(self, request, queryset):
        self._move(request, queryset, OrderStatus.ACTIVE, "Restored")

    @admin.action(description="Terminate selected suspended orders (irreversible)")
    def terminate_orders(self, request, queryset):
        self._move(request, queryset, OrderStatus.TERMINATED, "Terminated")
