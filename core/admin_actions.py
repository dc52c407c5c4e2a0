"""Admin actions that ask for a reason on an intermediate page (like Django's
delete confirmation) before calling a service for each selected object, and
answer 403 to a user who may not run them."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from core.errors import DomainError
from tenants.scope import actor_for_user


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Required: kept in the audit log with the change.",
    )


class PermittedActionsMixin:
    """A posted action that the admin declares but the user may not run
    (``allowed_permissions``) answers 403. Django alone would leave it out of
    the user's menu and answer a posted one with "No action selected"."""

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
