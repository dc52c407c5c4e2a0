from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache


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
