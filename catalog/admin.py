from django.contrib import admin

from audit.services import audit_record
from catalog.models import Category, Plan, PlanPrice
from core.admin import AuditedAdmin
from tenants.scope import actor_for_user


@admin.register(Category)
class CategoryAdmin(AuditedAdmin):
    list_display = ("ref", "name", "grace_days", "auto_renew_supported")
    list_filter = ("auto_renew_supported",)
    search_fields = ("ref", "name")


class PlanPriceInline(admin.TabularInline):
    model = PlanPrice
    extra = 1


@admin.register(Plan)
class PlanAdmin(AuditedAdmin):
    list_display = ("ref", "name", "category", "currency", "price_list", "endless", "auto_renew_allowed", "lead_days")
    list_filter = ("category", "endless", "auto_renew_allowed")
    search_fields = ("ref", "name")
    list_select_related = ("category",)
    inlines = [PlanPriceInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("prices")

    @admin.display(description="prices")
    def price_list(self, obj):
        return ", ".join(f"{p.months} mo: {p.amount}" for p in obj.prices.all())

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
