from django.http import HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payments.webhooks import BadWebhook, webhook_handle


@csrf_exempt  # Stripe signs the body instead
@require_POST
def stripe_webhook(request):
    try:
        result = webhook_handle(payload=request.body, signature=request.headers.get("Stripe-Signature", ""))
    except BadWebhook as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain")
    return HttpResponse(result, content_type="text/plain")
