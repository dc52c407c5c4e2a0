"""API tokens in Django admin: who has one, since when, until when, and its
short non-secret prefix; revoking needs the delete permission. Never a key
(the portal does not have them) nor a digest: knox's own admin lists digests
and lets an admin create tokens, so it is replaced.

A token's primary key is its digest, and Django shows ``str(token)`` (knox's
"<digest> : <login>") on an object's pages, in the checkboxes' labels, in
deletion messages and in its admin log. So there is no page per token: only
the list (its checkboxes relabelled) and a revoke action that goes through
logins.services.token_revoke (audited) instead of delete_selected. A checkbox's
value is still the digest, as any admin list carries its keys: it is not
shown, and sent as a token it opens nothing.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.urls import path
from knox.models import AuthToken

from audit.admin_kit import PermittedActionsMixin
from logins.selectors import token_expired
from logins.services import token_revoke

admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class AuthTokenAdmin(PermittedActionsMixin, admin.ModelAdmin):
    list_display = ("user", "created", "expiry", "prefix", "state")
    list_display_links = None
    list_select_related = ("user",)
    search_fields = ("user__username", "=token_key")
    ordering = ("-created",)
    actions = ["revoke"]

    @admin.display(description="starts with (not secret)")
    def prefix(self, token):
        return token.token_key + "…"

    @admin.display(description="state")
    def state(self, token):
        return "expired" if token_expired(token) else "valid"

    def action_checkbox(self, token):
        # Django labels each checkbox with str(token), which is knox's "<digest> : <login>".
        label = f"Select the API token of {token.user}"
        checkbox = forms.CheckboxInput({"class": "action-select", "aria-label": label})
        return checkbox.render(helpers.ACTION_CHECKBOX_NAME, str(token.pk))

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [path("", self.admin_site.admin_view(self.changelist_view), name="{}_{}_changelist".format(*info))]

    def audit_target(self, token):
        return token.user  # never the digest (the token's key and its text)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would log and show each token's digest
        return actions

    def has_add_permission(self, request):
        return False  # tokens are issued to the login itself (the panel or POST /api/auth/token/)

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected API tokens", permissions=["delete"])
    def revoke(self, request, queryset):
        users = {token.user for token in queryset.select_related("user")}
        for user in sorted(users, key=lambda u: u.pk):
            token_revoke(user=user, by=request.user, reason="revoked in Django admin")
        names = ", ".join(sorted(user.get_username() for user in users))
        self.message_user(request, f"Revoked the API token of: {names}.", messages.SUCCESS)
