from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.parse import ParseError, id_or_none, parse_json
from payments.card_notes import card_notes
from payments.gateway import stripe_configured
from payments.services import card_remove, card_set_default, card_setup_finish, card_setup_start, cards_shown
from payments.webhooks import BadWebhook, webhook_handle
from tenants.scope import ActorKind, actor_for_user


@csrf_exempt  # Stripe signs the body instead
@require_POST
def stripe_webhook(request):
    try:
        # Parsed once here only to refuse a body nested deeply enough to
        # crash the Stripe library's own json.loads (a RecursionError, a 500).
        parse_json(request.body)
    except ParseError as exc:
        return HttpResponseBadRequest(f"rejected: {exc}", content_type="text/plain")
    try:
        result = webhook_handle(payload=request.body, signature=request.headers.get("Stripe-Signature", ""))
    except BadWebhook as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain")
    return HttpResponse(result, content_type="text/plain")


def _customer(request):
    actor = actor_for_user(request.user)
    if actor.kind != ActorKind.CUSTOMER:
        raise Http404("saved cards belong to a customer account")
    return actor


@login_required
def cards(request):
    actor = _customer(request)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            card_id = id_or_none(request.POST.get("card", ""))
            if card_id is None:
                raise DomainError("choose a card")
            if action == "default":
                card_set_default(actor=actor, card_id=card_id)
                messages.success(request, "That card is now your default.")
            elif action == "remove":
                card_remove(actor=actor, card_id=card_id)
                messages.success(request, "The card was removed.")
            else:
                raise DomainError("unknown action")
        except DomainError as exc:
            messages.error(request, str(exc))
        return redirect("cards")
    shown = cards_shown(actor=actor)
    notes = card_notes(actor=actor, cards=shown)
    for card in shown:
        card.notes = notes.get(card.pk, [])
    return render(request, "payments/cards.html", {"cards": shown, "enabled": stripe_configured()})


@login_required
def card_add_page(request):
    """The one page that needs JavaScript: Stripe.js confirms a SetupIntent
    with the card typed here; our server only sees the SetupIntent's id."""
    actor = _customer(request)
    if not stripe_configured():
        messages.error(request, "Card payments are not configured on this portal.")
        return redirect("cards")
    if request.method == "POST":
        try:
            card = card_setup_finish(
                actor=actor, account_id=actor.customer_id, setup_intent_id=request.POST.get("setup_intent", "")
            )
        except DomainError as exc:
            messages.error(request, str(exc))
            return redirect("card-add")
        messages.success(request, f"Saved {card}.")
        return redirect("cards")
    try:
        client_secret = card_setup_start(actor=actor, account_id=actor.customer_id)
    except DomainError as exc:
        messages.error(request, str(exc))
        return redirect("cards")
    return render(
        request,
        "payments/card_add.html",
        {
            "client_secret": client_secret,
            "stripe_js_url": settings.STRIPE_JS_URL or "https://js.stripe.com/v3/",
            "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        },
    )
