"""The plans and their price lists in the admin. Here, at the top of the
layers, because a price list is checked against the orders that renew at it
(orders.selectors), which the catalog app sits below."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from audit.admin_kit import AuditedAdmin, PermittedActionsMixin
from audit.services import audit_record
from catalog.models import Plan, PlanPrice
from catalog.rules import lead_days_problem, price_in_use_problem
from core.money import format_amount, is_currency, is_exact, places_rule
from orders.selectors import orders_renewing_at
from tenants.scope import actor_for_user


def prices_in_use_problems(plan_id: int, removed) -> list[str]:
    """Why the prices of the ``removed`` tenures of a plan cannot go: active or
    suspended orders renew at them (their next renewal would have no price)."""
    renewing = orders_renewing_at(plan_id=plan_id)
    problems = [price_in_use_problem(months, renewing.get(months, 0)) for months in sorted(removed)]
    return [problem for problem in problems if problem]


class PlanPriceFormSet(BaseInlineFormSet):
    """The plan's price list as it will be saved, checked as a whole: a tenure
    that orders renew at stays (deleted or its months changed is the same
    loss), and the plan's lead days fit its shortest tenure (the importer's
    rule, catalog.rules.lead_days_problem)."""

    def clean(self):
        super().clean()
        plan = self.instance
        tenures = set()
        problems = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or self._should_delete_form(form) or data.get("months") is None:
                continue
            tenures.add(data["months"])
            amount = data.get("amount")
            # A price is kept to the plan's currency's minor unit (SPEC "Money").
            if amount is not None and is_currency(plan.currency) and not is_exact(amount, plan.currency):
                problems.append(
                    f"The {data['months']}-month price {amount} is finer than {plan.currency}'s minor unit "
                    f"({places_rule(plan.currency)})."
                )
        if plan.pk is not None:
            stored = set(PlanPrice.objects.filter(plan_id=plan.pk).values_list("months", flat=True))
            problems += prices_in_use_problems(plan.pk, stored - tenures)
        lead = lead_days_problem(plan.lead_days, tenures)
        if lead:
            problems.append(f"Lead days {lead}")
        if problems:
            raise ValidationError(problems)


class PlanPriceInline(admin.TabularInline):
    model = PlanPrice
    formset = PlanPriceFormSet
    extra = 1


@admin.register(Plan)
class PlanAdmin(PermittedActionsMixin, AuditedAdmin):
    list_display = ("ref", "name", "category", "currency", "price_list", "endless", "auto_renew_allowed", "lead_days")
    list_filter = ("category", "endless", "auto_renew_allowed")
    search_fields = ("ref", "name")
    list_select_related = ("category",)
    inlines = [PlanPriceInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("prices")

    def get_deleted_objects(self, objs, request):
        # Orders protect their plan anyway; say first what stands in the way.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        why = []
        for plan in objs:
            tenures = PlanPrice.objects.filter(plan_id=plan.pk).values_list("months", flat=True)
            why += [f"{plan.name}: {problem}" for problem in prices_in_use_problems(plan.pk, tenures)]
        return deleted, counts, perms_needed, [*why, *protected]

    @admin.display(description="prices")
    def price_list(self, obj):
        return ", ".join(f"{p.months} mo: {format_amount(p.amount, obj.currency)}" for p in obj.prices.all())

    def save_related(self, request, form, formsets, change):
        plan = form.instance
        before = {p.months: p.amount for p in PlanPrice.objects.filter(plan=plan)}
        super().save_related(request, form, formsets, change)
        after = {p.months: p.amount for p in PlanPrice.objects.filter(plan=plan)}
        if before != after:
            # SPEC: every change of a price is audited (who, when, before, after).
            audit_record(
                actor=actor_for_user(request.user),
                action="plan.prices",
                target=plan,
                before=before,
                after=after,
                reason="admin",
            )
