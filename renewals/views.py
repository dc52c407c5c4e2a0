"""The operators' views: /healthz for monitoring and the status page in the
admin (SPEC "Faults and bad data": operators see it all in one place)."""

from django.contrib import admin
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache

from renewals.status import health, platform_status
from tenants.scope import actor_for_user


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
        "admin/renewals/status.html",
        {
            **admin.site.each_context(request),
            "title": "Platform status",
            "status": platform_status(actor=actor_for_user(request.user)),
        },
    )
