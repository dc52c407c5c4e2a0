"""The building blocks of every app's admin: every change made in the admin
goes through the audited services, the append-only tables are read-only,
and actions ask for a reason on an intermediate page (like Django's delete
confirmation) before calling a service for each selected object, answer 403
to a user who may not run them, and leave an audit row for every action run
and every object added, changed or deleted in the admin.

Here, just above core, so that each app's admin module can use them; the
admin site itself, its second factor and core's own admins are the staff
app's (staff/)."""

import functools

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse

from audit.services import Change, audit_record, audit_record_many, audited_update
from core.actors import actor_for_user
from core.errors import DomainError
from core.money import format_amount


def money_column(field: str, currency: str = "currency", description: str | None = None):
    """A list or read-only column showing the amount ``field`` with exactly
    its currency's places ("1000" JPY, "10.00" USD), the currency read from
    the dotted path ``currency`` on the same object; the columns hold three."""

    @admin.display(description=description or field.replace("_", " "), ordering=field)
    def column(obj):
        amount = getattr(obj, field)
        code = obj
        for name in currency.split("."):
            code = getattr(code, name, None)
        if amount is None or code is None:
            return "" if amount is None else str(amount)
        return format_amount(amount, code)

    column.__name__ = f"{field}_shown"
    return column


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

    audits_its_saves = True  # field by field, so PermittedActionsMixin adds no summary row

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


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Required: kept in the audit log with the change.",
    )


def audited_action(func, name: str):
    """``func`` (an admin action) with one audit row per selected object once
    it has run: actor, client address (the audit log's own), the reason given
    on its intermediate page. An action that answers with a page of its own
    (the intermediate page, a report) has not applied anything yet."""

    @functools.wraps(func)
    def run(modeladmin, request, queryset):
        selected = list(queryset.order_by("pk"))
        response = func(modeladmin, request, queryset)
        if response is None or isinstance(response, HttpResponseRedirect):
            reason = request.POST.get("reason", "")
            changes = [Change(f"admin.{name}", audit_target(modeladmin, obj), reason=reason) for obj in selected]
            audit_record_many(actor=actor_for_user(request.user), changes=changes)
        return response

    return run


def audit_target(modeladmin, obj):
    """What an audit row names for ``obj``: the object, unless its admin
    defines ``audit_target`` (one whose objects' text holds a secret names
    their owner instead). Read from the admin, not inherited from the mixin,
    so that the mixin placed first in a class's bases cannot hide it."""
    named = getattr(modeladmin, "audit_target", None)
    return named(obj) if named else obj


class PermittedActionsMixin:
    """A posted action that the admin declares but the user may not run
    (``allowed_permissions``) answers 403. Django alone would leave it out of
    the user's menu and answer a posted one with "No action selected".

    Every action is audited (``audited_action``), and so is every object the
    admin's forms add, change or delete (Django's own LogEntry has neither the
    client's address nor a place in the append-only log), unless the admin
    records each field itself (``audits_its_saves``, as AuditedAdmin does).
    Neither is defined here: the admin site puts this mixin first in every
    admin's bases, where its own defaults would hide the admin's."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        return {
            # delete_selected is recorded by log_deletions, object by object.
            name: (func if name == "delete_selected" else audited_action(func, name), name, description)
            for name, (func, name, description) in actions.items()
        }

    def log_addition(self, request, obj, message):
        if not getattr(self, "audits_its_saves", False):
            self._audit(request, [obj], "admin.add", message)
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        if not getattr(self, "audits_its_saves", False):
            self._audit(request, [obj], "admin.change", message)
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        self._audit(request, list(queryset), "admin.delete", None)
        return super().log_deletions(request, queryset)

    def _audit(self, request, objects, action: str, message) -> None:
        changes = [Change(action, audit_target(self, obj), after=message or None) for obj in objects]
        audit_record_many(actor=actor_for_user(request.user), changes=changes)

    def changelist_view(self, request, extra_context=None):
        name = request.POST.get("action") if request.method == "POST" else None
        if name:
            declared = {action_name for _func, action_name, _description in self._get_base_actions()}
            if name in declared and name not in self.get_actions(request):
                raise PermissionDenied
        return super().changelist_view(request, extra_context)


def confirm_and_apply(modeladmin, request, queryset, *, action: str, form_class, title: str, intro: str, apply):
    """The action's intermediate page, then ``apply(actor, obj, cleaned_data)``
    for each selected object (each in its own transaction, by the service):
    what one refuses is shown with its sentence, the others proceed. Returns
    None (back to the list) once applied."""
    form = form_class(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        actor = actor_for_user(request.user)
        done, errors = [], []
        for obj in queryset.order_by("pk"):
            try:
                apply(actor, obj, form.cleaned_data)
                done.append(str(obj))
            except DomainError as exc:
                errors.append(str(exc))
        if done:
            modeladmin.message_user(request, f"{title}: {', '.join(done)}.", messages.SUCCESS)
        for error in errors:
            modeladmin.message_user(request, error, messages.ERROR)
        return None
    return TemplateResponse(
        request,
        "admin/action_confirm.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "intro": intro,
            "form": form,
            "objects": queryset.order_by("pk"),
            "action": action,
            "opts": modeladmin.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        },
    )
