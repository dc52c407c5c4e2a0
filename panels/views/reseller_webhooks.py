"""The reseller panel's Webhooks page (docs/webhooks.md): its endpoints, each
with its deliveries. Reads through webhooks.selectors, writes through
webhooks.services, both scoped to the acting reseller; another reseller's
endpoint or delivery is a 404."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from core.parse import id_or_none
from panels.views.common import attempt, paginate, reseller_view
from webhooks import services
from webhooks.models import EventType
from webhooks.selectors import deliveries_of, disabled_endpoints, endpoint_detail, endpoints_of


@require_http_methods(["GET", "POST"])
@reseller_view
def webhooks(request, actor):
    created = None
    form = {"url": "", "events": []}
    if request.method == "POST":
        form = {"url": request.POST.get("url", "")[:600], "events": request.POST.getlist("events")}
        created = attempt(
            request,
            lambda: services.endpoint_create(actor=actor, url=form["url"], events=form["events"]),
            success="Endpoint added. Copy its signing secret now: it is shown here once (you can reveal it again).",
        )
        if created is not None:
            form = {"url": "", "events": []}
    return render(
        request,
        "panels/reseller/webhooks.html",
        {
            "endpoints": list(endpoints_of(actor=actor)),
            "disabled": disabled_endpoints(actor=actor),
            "created": created,  # its secret, shown on this answer only
            "event_types": EventType.choices,
            "form": form,
        },
    )


ACTIONS = {
    "events": "Events saved.",
    "enable": "Endpoint enabled: the deliveries that waited go out now.",
    "disable": "Endpoint disabled: nothing is sent to it; its waiting deliveries are kept.",
    "rotate": "New signing secret made: deliveries are signed with it from now on.",
    "reveal": "",
    "redeliver": "Delivery queued again: it goes out within a minute (same event id).",
}


@require_http_methods(["GET", "POST"])
@reseller_view
def webhook(request, actor, endpoint_id: int):
    endpoint = endpoint_detail(actor=actor, endpoint_id=endpoint_id)
    secret = None
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "delete":
            services.endpoint_delete(actor=actor, endpoint_id=endpoint.pk)
            messages.success(request, f"Endpoint {endpoint.url} deleted.")
            return redirect("reseller-webhooks")
        if action not in ACTIONS:
            messages.error(request, "Unknown action.")
            return redirect("reseller-webhook", endpoint.pk)
        calls = {
            "events": lambda: services.endpoint_update(
                actor=actor, endpoint_id=endpoint.pk, events=request.POST.getlist("events")
            ),
            "enable": lambda: services.endpoint_update(actor=actor, endpoint_id=endpoint.pk, enabled=True),
            "disable": lambda: services.endpoint_update(actor=actor, endpoint_id=endpoint.pk, enabled=False),
            "rotate": lambda: services.endpoint_rotate_secret(actor=actor, endpoint_id=endpoint.pk),
            "reveal": lambda: endpoint,
            "redeliver": lambda: services.delivery_redeliver(
                actor=actor, delivery_id=id_or_none(request.POST.get("delivery"))
            ),
        }
        result = attempt(request, calls[action], success=ACTIONS[action])
        if action in ("reveal", "rotate") and result is not None:
            # Shown on this answer only (a POST: never in a URL, a log or the history).
            secret = result.secret
        elif result is not None:
            return redirect(request.get_full_path())
        endpoint = endpoint_detail(actor=actor, endpoint_id=endpoint.pk)
    page = paginate(request, deliveries_of(actor=actor, endpoint_id=endpoint.pk))
    return render(
        request,
        "panels/reseller/webhook.html",
        {"endpoint": endpoint, "page": page, "secret": secret, "event_types": EventType.choices},
    )
