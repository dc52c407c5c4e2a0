"""Admin building blocks: every change made in the admin goes through the
audited services, and the append-only tables are read-only."""

from django.contrib import admin

from audit.services import audit_record, audited_update
from tenants.scope import actor_for_user


class ReadOnlyAdmin(admin.ModelAdmin):
    """For append-only records (ledger, audit log, invoices): view, never edit."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def form_changes(obj, form) -> dict:
    """The fields a submitted admin form changed, by attribute name (``plan_id``
    for a foreign key), with their new values."""
    changes = {}
    for name in form.changed_data:
        field = obj._meta.get_field(name)
        if field.many_to_many:
            continue
        changes[field.attname] = getattr(obj, field.attname)
    return changes


class AuditedAdmin(admin.ModelAdmin):
    """Saves through ``audited_update``: each changed field is recorded with
    who, when, before and after. Subclasses override ``save_changes`` to route
    fields through a domain service instead."""

    def save_model(self, request, obj, form, change):
        actor = actor_for_user(request.user)
        if not change:
            super().save_model(request, obj, form, change)
            audit_record(actor=actor, action=f"{obj._meta.model_name}.create", target=obj, reason="admin")
            return
        changes = form_changes(obj, form)
        # The form already wrote the new values onto ``obj``; compare against
        # the stored row so that before/after are true.
        stored = type(obj).objects.get(pk=obj.pk)
        self.save_changes(request, stored, changes)

    def save_changes(self, request, stored, changes: dict) -> None:
        audited_update(actor=actor_for_user(request.user), instance=stored, changes=changes, reason="admin")
