"""The orders in the admin: their flags, and the operator's actions on their
lifecycle (renewals.operator: extend, suspend, restore, terminate) and tenure,
each with a reason. Here, at the top of the layers, because the actions call
renewals, which the orders app sits below."""

from django import forms
from django.contrib import admin, messages

from audit.admin_kit import AuditedAdmin, PermittedActionsMixin, ReasonForm, confirm_and_apply
from core.dates import business_today
from core.errors import DomainError
from orders.models import AfterRenewal, Order
from orders.services import EDITABLE_FIELDS, order_set_flags, order_set_terms, order_tenure_change
from renewals.operator import order_extend, order_restore, order_suspend, order_terminate
from tenants.scope import ActorKind, actor_for_user


class ExtendForm(ReasonForm):
    until = forms.DateField(label="New paid-thru date", help_text="YYYY-MM-DD, after the current paid-thru date.")


class RestoreForm(ReasonForm):
    until = forms.DateField(
        label="New paid-thru date",
        required=False,
        help_text="Needed when the paid-thru date has passed: the order is then extended (complimentary) "
        "to this date. Leave empty to restore an order whose paid-thru date has not passed.",
    )


class TerminateForm(ReasonForm):
    suspend_first = forms.BooleanField(
        required=False,
        label="Terminate active orders too",
        help_text="Suspend and terminate an active order in one step (abuse, fraud, the customer's request). "
        "Otherwise only suspended orders are terminated.",
    )


class TenureForm(ReasonForm):
    months = forms.IntegerField(min_value=1, label="Tenure (months)", help_text="A period the order's plan sells.")


class TermsForm(ReasonForm):
    lead_days = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=32767,
        label="Own auto-renew point (days)",
        help_text="Days before the paid-thru date the automatic renewal starts; shorter than the order's tenure "
        "at 28 days a month. Empty: the plan's.",
    )
    individual_price = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=20,
        decimal_places=3,
        label="Individual price",
        help_text="The price of the order's tenure for this order, in its plan's currency. Empty: the plan's price.",
    )
    after_renewal = forms.ChoiceField(
        choices=AfterRenewal.choices,
        initial=AfterRenewal.KEEP,
        label="After a renewal at the individual price",
    )


@admin.register(Order)
class OrderAdmin(PermittedActionsMixin, AuditedAdmin):
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
    # SPEC "Orders": the paid-thru date, status and tenure change only through
    # the actions below (each with a reason, through a service), never by
    # editing the field: an edited paid-thru date could take a cycle already
    # renewed. A new order is given its dates when added.
    # The renewal terms (own auto-renew point, individual price) likewise,
    # through their action.
    guarded_fields = (
        "status",
        "expires_on",
        "tenure_months",
        "anchor_day",
        "lead_days",
        "individual_price",
        "after_renewal",
    )
    readonly_fields = ("status", "created_at", "updated_at")
    actions = (
        "lock_orders",
        "unlock_orders",
        "extend_orders",
        "suspend_orders",
        "restore_orders",
        "terminate_orders",
        "change_tenure",
        "set_terms",
    )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return (*self.guarded_fields, "created_at", "updated_at")

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
        rest = {k: v for k, v in changes.items() if k not in flags and k not in self.guarded_fields}
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

    @admin.action(description="Lock selected orders (provider lock)", permissions=["change"])
    def lock_orders(self, request, queryset):
        self._each(request, queryset, "Locked", lambda a, o: order_set_flags(actor=a, order_id=o.pk, locked=True))

    @admin.action(description="Unlock selected orders", permissions=["change"])
    def unlock_orders(self, request, queryset):
        self._each(request, queryset, "Unlocked", lambda a, o: order_set_flags(actor=a, order_id=o.pk, locked=False))

    @admin.action(description="Extend selected orders (complimentary, with a reason)", permissions=["change"])
    def extend_orders(self, request, queryset):
        return confirm_and_apply(
            self,
            request,
            queryset,
            action="extend_orders",
            form_class=ExtendForm,
            title="Extend (complimentary)",
            intro="Each order is extended at no charge to the date below, recorded as a renewal of its current "
            "cycle (a 0.00 invoice line marked complimentary). A suspended order is restored. The customer "
            "is told the order was renewed.",
            apply=lambda actor, order, data: order_extend(
                actor=actor, order_id=order.pk, until=data["until"], reason=data["reason"]
            ),
        )

    @admin.action(description="Suspend selected orders (with a reason)", permissions=["change"])
    def suspend_orders(self, request, queryset):
        return confirm_and_apply(
            self,
            request,
            queryset,
            action="suspend_orders",
            form_class=ReasonForm,
            title="Suspend",
            intro="Each active order is suspended now: its provisioning hook blocks the service and the "
            "customer is told. It is terminated when its grace after the paid-thru date ends.",
            apply=lambda actor, order, data: order_suspend(actor=actor, order_id=order.pk, reason=data["reason"]),
        )

    @admin.action(description="Restore selected suspended orders (with a reason)", permissions=["change"])
    def restore_orders(self, request, queryset):
        return confirm_and_apply(
            self,
            request,
            queryset,
            action="restore_orders",
            form_class=RestoreForm,
            title="Restore",
            intro="Each suspended order becomes active again and its provisioning hook unblocks the service. "
            "An order whose paid-thru date has passed is restored only together with an extension: "
            "restored without one, the next nightly run would suspend it again.",
            apply=lambda actor, order, data: order_restore(
                actor=actor, order_id=order.pk, reason=data["reason"], until=data["until"]
            ),
        )

    @admin.action(
        description="Terminate selected suspended orders (irreversible, with a reason)", permissions=["change"]
    )
    def terminate_orders(self, request, queryset):
        return confirm_and_apply(
            self,
            request,
            queryset,
            action="terminate_orders",
            form_class=TerminateForm,
            title="Terminate",
            intro="Each order is terminated: its provisioning hook deprovisions the service and its data, and "
            "the customer is told. This cannot be undone.",
            apply=lambda actor, order, data: order_terminate(
                actor=actor, order_id=order.pk, reason=data["reason"], suspend_first=data["suspend_first"]
            ),
        )

    @admin.action(description="Change the tenure of selected orders (with a reason)", permissions=["change"])
    def change_tenure(self, request, queryset):
        return confirm_and_apply(
            self,
            request,
            queryset,
            action="change_tenure",
            form_class=TenureForm,
            title="Change tenure",
            intro="Each order's next renewal buys this many months, at its plan's price for that period. "
            "The paid-thru date does not change.",
            apply=lambda actor, order, data: order_tenure_change(
                actor=actor, order_id=order.pk, months=data["months"], reason=data["reason"]
            ),
        )

    @admin.action(
        description="Set the auto-renew point and individual price of selected orders (with a reason)",
        permissions=["change"],
    )
    def set_terms(self, request, queryset):
        return confirm_and_apply(
            self,
            request,
            queryset,
            action="set_terms",
            form_class=TermsForm,
            title="Set renewal terms",
            intro="Each order gets these renewal terms: its own auto-renew point (overrides its plan's) and an "
            "individual price for its tenure (it renews at that price; 'Return to the plan's price' makes the "
            "renewal after that one at the plan's price). An empty field returns to the plan's.",
            apply=lambda actor, order, data: order_set_terms(
                actor=actor,
                order_id=order.pk,
                reason=data["reason"],
                lead_days=data["lead_days"],
                individual_price=data["individual_price"],
                after_renewal=data["after_renewal"],
            ),
        )
