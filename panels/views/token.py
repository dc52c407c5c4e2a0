"""The API token page, shared by both panels: whether the login has a token
(its dates and its short non-secret prefix; the portal keeps only a digest of
the key), creating one (shown in full once, in the answer to the request that
created it) and revoking it."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from logins.selectors import token_expired, token_of
from logins.services import token_create, token_revoke
from tenants.scope import ActorKind, actor_for_user


@login_required
@never_cache  # the page that shows a token in full must not be kept by a browser or a proxy
@require_http_methods(["GET", "POST"])
def token_page(request):
    if actor_for_user(request.user).kind not in (ActorKind.CUSTOMER, ActorKind.RESELLER):
        raise Http404("this page is for customer and reseller logins")
    action = request.POST.get("action", "") if request.method == "POST" else ""
    if action == "create":
        token = token_of(request.user)
        if token is not None and not token_expired(token):
            # Never shown in full again: revoke it and create a new one instead.
            messages.info(request, "You already have an API token. Revoke it first to create a new one.")
            return redirect("api-token-page")
        issued = token_create(user=request.user)  # replaces an expired one
        messages.success(request, "Your API token was created. Copy it now: it will not be shown again.")
        return render(request, "panels/token.html", {"token": issued, "new_key": issued.key})
    if action == "revoke":
        if token_revoke(user=request.user):
            messages.success(request, "Your API token was revoked: requests that send it are refused from now on.")
        else:
            messages.info(request, "You had no API token: nothing changed.")
        return redirect("api-token-page")
    if request.method == "POST":
        messages.error(request, "That action is not known here: nothing changed.")
        return redirect("api-token-page")
    token = token_of(request.user)
    return render(request, "panels/token.html", {"token": token, "expired": token is not None and token_expired(token)})
