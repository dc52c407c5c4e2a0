"""The reseller control panel: the customers of the acting reseller's subtree,
their orders and auto-renew switches, tonight's sweep, failures, sub-resellers
and messages. Every read goes through a selector that takes the actor, every
write through a service that checks it again."""

from django.contrib import messages
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from core.dates import business_today
from core.parse import id_or_none
from orders.selectors import OrderFilters, orders_of
from orders.services import order_set_flags, order_set_terms
from panels.forms import OrderTermsForm
from panels.views.calendar import calendar_context
from panels.views.common import (
    attempt,
    back_to,
    message_page,
    messages_page,
    paginate,
    reseller_view,
    sentence,
    with_days,
)
from renewals.rules import WHAT_TO_DO
from renewals.selectors import customer_counts, customers_of, failed_batches, sweep_preview
from tenants.selectors import customer_detail, sub_resellers
from tenants.services import customer_set_auto_renew_allowed, customer_set_retry_exempt


@reseller_view
def customers(request, actor):
    # PostgreSQL refuses a NUL in a query's text: it matches nothing anyway.
    query = request.GET.get("q", "").replace("\x00", "").strip()[:200]
    failing_only = request.GET.get("failing") == "1"
    page = paginate(request, customers_of(actor=actor, query=query, failing_only=failing_only))
    # One query for both numbers, whatever the size of the subtree.
    stats = customer_counts(actor=actor)
    return render(
        request,
        "panels/reseller/customers.html",
        {
            "page": page,
            "query": query,
            "failing_only": failing_only,
            "stats": stats,
            **calendar_context(request, actor),
        },
    )


REF_SHOWN = 100  # the longest ref a message repeats back

# The order switches a form may post: action -> (field, value, what the user reads).
ORDER_ACTIONS = {
    "auto_renew_on": ("auto_renew", True, "Auto-renew is now on for order {ref}."),
    "auto_renew_off": ("auto_renew", False, "Auto-renew is now off for order {ref}."),
    "lock": ("auto_renew_locked", True, "Order {ref} is locked: the customer can't change its auto-renew switch."),
    "unlock": ("auto_renew_locked", False, "Order {ref} is unlocked: the customer may change auto-renew again."),
}


@require_http_methods(["GET", "POST"])
@reseller_view
def customer(request, actor, customer_id: int):
    found = customer_detail(actor=actor, customer_id=customer_id)
    if request.method == "POST":
        _customer_action(request, actor, found)
        return back_to(request, "reseller-customer", found.pk)
    today = business_today()
    page = paginate(request, orders_of(actor=actor, filters=OrderFilters(customer_id=found.pk), on=today))
    return render(
        request,
        "panels/reseller/customer.html",
        {"customer": found, "page": page, "orders": with_days(list(page), today)},
    )


def _customer_action(request, actor, found) -> None:
    action = request.POST.get("action", "")
    if action in ("allow", "forbid"):
        allowed = action == "allow"
        word = "allowed" if allowed else "forbidden"
        attempt(
            request,
            lambda: customer_set_auto_renew_allowed(actor=actor, customer_id=found.pk, allowed=allowed),
            success=f"Auto-renew is now {word} for {found.name}.",
            unchanged=f"Auto-renew was already {word} for {found.name}: nothing changed.",
        )
        return
    if action in ("exempt", "unexempt"):
        exempt = action == "exempt"
        word = "exempt from" if exempt else "under"
        attempt(
            request,
            lambda: customer_set_retry_exempt(actor=actor, customer_id=found.pk, exempt=exempt),
            success=f"{found.name} is now {word} the retry policy.",
            unchanged=f"{found.name} was already {word} the retry policy: nothing changed.",
        )
        return
    posted = request.POST.get("order", "")
    order_id = id_or_none(posted)
    if action == "terms" and order_id is not None:
        _order_terms(request, actor, order_id, request.POST.get("ref", "")[:REF_SHOWN] or posted)
        return
    if action not in ORDER_ACTIONS or order_id is None:
        messages.error(request, "That action is not known here: nothing changed.")
        return
    field, value, success = ORDER_ACTIONS[action]
    ref = request.POST.get("ref", "")[:REF_SHOWN] or posted
    attempt(
        request,
        lambda: order_set_flags(actor=actor, order_id=order_id, **{field: value}),
        success=success.format(ref=ref),
        unchanged=f"Order {ref} was already like that: nothing changed.",
    )


def _order_terms(request, actor, order_id: int, ref: str) -> None:
    """An order's own auto-renew point, individual price and what follows a
    renewal at it (SPEC "Per-order settings")."""
    form = OrderTermsForm(request.POST)
    if not form.is_valid():
        messages.error(request, sentence(f"order {ref}: {form.problem()}; nothing changed"))
        return
    attempt(
        request,
        lambda: order_set_terms(actor=actor, order_id=order_id, **form.cleaned_data),
        success=f"Order {ref}: its renewal terms are saved.",
        unchanged=f"Order {ref} already had these renewal terms: nothing changed.",
    )


@reseller_view
def preview(request, actor):
    result = sweep_preview(actor=actor)
    page = paginate(request, result.lines())
    return render(
        request,
        "panels/reseller/preview.html",
        {"on": result.on, "page": page, "summary": result.summary(), "today": business_today()},
    )


@reseller_view
def failures(request, actor):
    page = paginate(request, failed_batches(actor=actor, since_days=30))
    rows = [(batch, WHAT_TO_DO.get(batch.reason, "")) for batch in page]
    return render(request, "panels/reseller/failures.html", {"page": page, "rows": rows, "days": 30})


@reseller_view
def resellers(request, actor):
    page = paginate(request, sub_resellers(actor=actor))
    return render(request, "panels/reseller/resellers.html", {"page": page})


MESSAGES = {"list_url": "reseller-messages", "detail_url": "reseller-message-detail", "for_reseller": True}


@reseller_view
def messages_list(request, actor):
    return messages_page(request, actor, MESSAGES)


@reseller_view
def message(request, actor, notice_id: int):
    return message_page(request, actor, notice_id, MESSAGES)
