"""The API token page, shared by both panels: whether the login has a token,
creating one (shown in full once, in the answer to the request that created
it) and revoking it."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from api.services import token_issue, token_revoke
from tenants.scope import ActorKind, actor_for_user

SHOWN_CHARS = 4  # enough to recognise the token in a list of keys, too few to use it


def _current_key(user) -> str:
    """The login's token key, or "" (the one-to-one link from rest_framework.authtoken)."""
    token = getattr(user, "auth_token", None)
    return token.key if token is not None else ""


@login_required
@never_cache  # the page that shows a token in full must not be kept by a browser or a proxy
@require_http_methods(["GET", "POST"])
def token_page(request):
    if actor_for_user(request.user).kind not in (ActorKind.CUSTOMER, ActorKind.RESELLER):
        raise Http404("this page is for customer and reseller logins")
    action = request.POST.get("action", "") if request.method == "POST" else ""
    if action == "create":
        if _current_key(request.user):
            # Never shown in full again: revoke it and create a new one instead.
            messages.info(request, "You already have an API token. Revoke it first to create a new one.")
            return redirect("api-token-page")
        key = token_issue(user=request.user)
        messages.success(request, "Your API token was created. Copy it now: it will not be shown again.")
        return render(request, "panels/token.html", {"has_token": True, "new_key": key})
    if action == "revoke":
        if token_revoke(user=request.user):
            messages.success(request, "Your API token was revoked: requests that send it are refused from now on.")
        else:
            messages.info(request, "You had no API token: nothing changed.")
        return redirect("api-token-page")
    if request.method == "POST":
        messages.error(request, "That action is not known here: nothing changed.")
        return redirect("api-token-page")
    key = _current_key(request.user)
    masked = key[:SHOWN_CHARS] + "•" * (len(key) - SHOWN_CHARS) if key else ""
    return render(request, "panels/token.html", {"has_token": bool(key), "masked": masked})
