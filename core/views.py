from django.contrib import admin
from django.db import connection
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache

from core.status import health, platform_status
from tenants.scope import actor_for_user


@never_cache
def healthz_live(request):
    """Liveness for docker compose and load balancers: the process serves and
    its database answers. Nothing else, so a broker outage or a failed night
    never gets the web container restarted."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - down is the answer, not a 500
        return JsonResponse({"status": "failing"}, status=503)
    return JsonResponse({"status": "ok"})


@never_cache
def healthz(request):
    """For monitoring: the database, the broker (when configured) and the last
    nightly run, as JSON; 200 when all are healthy, 503 otherwise."""
    ok, report = health()
    return JsonResponse(report, status=200 if ok else 503)


def status_page(request):
    """The operators' status page (staff only: wrapped in admin_view)."""
    return TemplateResponse(
        request,
        "admin/core/status.html",
        {
            **admin.site.each_context(request),
            "title": "Platform status",
            "status": platform_status(actor=actor_for_user(request.user)),
        },
    )
