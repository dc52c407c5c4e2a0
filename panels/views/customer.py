"""The customer panel: orders, renewals (one or a batch), balance, invoices,
messages and settings. Each view parses, calls one selector or service, and
renders; every read is scoped to the signed-in customer."""

import uuid
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from balances.selectors import account_of, ledger_of
from balances.services import account_update
from core.dates import business_today
from core.errors import DomainError, NotFound, error_body
from core.money import format_money
from core.parse import MAX_BATCH_ORDERS
from invoices.selectors import invoice_detail as invoice_of
from invoices.selectors import invoices_of
from once.idempotency import request_fingerprint
from once.selectors import renewal_preview
from once.services import renewal_pay_once, top_up_once
from orders.models import PaymentSource
from orders.selectors import categories, orders_of, periods_of
from orders.selectors import order_detail as order_of
from orders.services import order_set_flags
from panels.forms import (
    EXPIRED,
    OrderFilterForm,
    RenewForm,
    RenewPayForm,
    TopUpForm,
    first_error,
    parse_payment_source,
    parse_switch,
    posted_token,
)
from panels.views.common import (
    attempt,
    back_to,
    customer_view,
    message_page,
    messages_page,
    paginate,
    sentence,
    with_days,
)
from payments.gateway import stripe_configured
from payments.models import AttemptState
from payments.services import cards_shown
from renewals.selectors import CENTER_TABS, locked_orders_of, order_renewal_outlook, renewal_center

SETTLED_LATER = "We will settle it shortly; you will not be charged twice."
LOCKED_BY_PROVIDER = (
    "Your provider has locked this switch: auto-renew and 'do not renew' stay as they are, and your "
    "account's master switch does not apply to this order. Ask them if you want it changed."
)


@customer_view
def orders(request, actor):
    today = business_today()
    kinds = categories()
    form = OrderFilterForm(request.GET, categories=kinds)
    filters = form.filters()
    page = paginate(request, orders_of(actor=actor, filters=filters, on=today))
    with_days(page.object_list, today)
    return render(
        request,
        "panels/customer/orders.html",
        {"page": page, "form": form, "filters": filters, "today": today},
    )


@customer_view
@require_http_methods(["GET", "POST"])
def order_detail(request, actor, order_id: int):
    if request.method == "POST":
        try:
            field = request.POST.get("field", "")
            value = request.POST.get("value", "")
            if field in ("auto_renew", "do_not_renew"):
                changes = {field: parse_switch(value)}
            elif field == "payment_source":
                changes = {field: parse_payment_source(value)}
            else:
                raise forms.ValidationError(f"there is no setting {field!r} to change")
        except forms.ValidationError as exc:
            messages.error(request, sentence(exc.messages[0]))
            return redirect("order-detail", order_id)
        labels = {"auto_renew": "Auto-renew", "do_not_renew": "Do not renew", "payment_source": "Payment source"}
        shown = value if field == "payment_source" else ("on" if changes[field] else "off")
        attempt(
            request,
            lambda: order_set_flags(actor=actor, order_id=order_id, **changes),
            success=f"{labels[field]} is now {shown}.",
        )
        return redirect("order-detail", order_id)
    order = order_of(actor=actor, order_id=order_id)
    today = business_today()
    with_days([order], today)
    outlook = order_renewal_outlook(actor=actor, order_id=order_id)
    switch_blocked = ""
    if order.auto_renew_locked:
        switch_blocked = LOCKED_BY_PROVIDER
    elif outlook.switch_blocked is not None:
        switch_blocked = outlook.switch_blocked.label
    return render(
        request,
        "panels/customer/order_detail.html",
        {
            "order": order,
            "outlook": outlook,
            "switch_blocked": switch_blocked,
            "periods": periods_of([order.plan_id]).get(order.plan_id, []),
            "payment_sources": PaymentSource.choices,
            "today": today,
        },
    )


@customer_view
@require_http_methods(["GET", "POST"])
def renew(request, actor):
    """Renew one order or a batch (ticked, or a renewal center tab's
    orders: ``all_in``): a period per order (default 1 month, or the
    shortest the plan sells), optionally aligned to one renewal day; each line
    and the total; pay from the balance or the card; auto-renew on from the
    next cycle. Nothing is paid until the customer confirms the quote shown,
    and only at the total shown: the form posts it back, and a total that
    moved meanwhile is refused (price_changed) with the new quote drawn
    instead. A second submit of one form pays nothing and shows the first
    result (panels.forms.FORM_TOKEN)."""
    form = RenewForm(_renewal_choice(request, actor))
    if not form.is_valid():
        messages.error(request, sentence(first_error(form)))
        return redirect("orders")
    choice = form.cleaned_data
    refusal = ""
    if request.method == "POST" and request.POST.get("action") == "pay":
        paid, refusal = _renewal_pay(request, actor, choice)
        if paid is not None:
            return paid
    preview = renewal_preview(
        actor=actor, order_ids=choice["order"], months=choice["months"], align_day=choice["align_day"]
    )
    if refusal and sentence(refusal) != sentence(preview.refused):  # else the quote's own error says it
        messages.error(request, sentence(refusal))
    quote = preview.quote
    rows = [
        {
            "order": row.order,
            "months": row.months,
            "periods": row.periods,
            "line": row.line,
            "auto_next": row.order.pk in choice["auto_renew_next"],
        }
        for row in preview.rows
    ]
    return render(
        request,
        "panels/customer/renew.html",
        {
            "rows": rows,
            "quote": quote,
            "error": preview.refused,
            "align_day": choice["align_day"] or "",
            "account": preview.account,
            "card": preview.card,
            "payment": choice["payment"],
            "short": preview.short,
            # What the pay button says is what is paid (renewal_pay's expected_total), once per form token.
            "expected_total": format(quote.total, "f") if quote else "",
            "form_token": _form_token(),
        },
    )


IN_PROGRESS = "This form was already sent and is being processed; you will not be charged twice."


def _form_token() -> str:
    return f"form-{uuid.uuid4().hex}"


def _fingerprint(request, fields: dict) -> str:
    return request_fingerprint(method=request.method, path=request.path, body=fields)


def _refused(exc: DomainError) -> tuple[int, dict]:
    """A refusal as once.services keeps it for the form's second submit: what
    it says, and whether an order was not the customer's (a 404)."""
    status = 404 if isinstance(exc, NotFound) else 422
    return status, error_body(status, exc.code, str(exc))


def _answer_refusal(answer) -> str:
    if answer.status == 404:
        raise NotFound(answer.body["error"]["message"])
    return answer.body["error"]["message"]


def _sent_twice(request, exc: DomainError) -> str:
    """The token's first submit is still running (say so, no second form to
    pay with), or the token came back with other values (a refusal)."""
    if exc.code == "idempotency_in_progress":
        messages.info(request, IN_PROGRESS)
        return ""
    if exc.code == "idempotency_key_reused":
        return "this form was already sent with other values and nothing more was charged; check them and pay again"
    return str(exc)


def _renewal_pay(request, actor, choice: dict):
    """The pay button: the quote the customer saw (its pins and its total,
    hidden in the form) paid once per form token. Returns (a redirect, "")
    when paid, now or by an earlier submit of this form; else (None, why
    not), nothing charged."""
    form = RenewPayForm(request.POST, choice=choice)
    if not form.is_valid():
        return None, first_error(form)
    pay = form.cleaned_data
    fields = {
        "items": pay["items"],
        "align_day": choice["align_day"],
        "pins": {str(i): day.isoformat() for i, day in pay["pins"].items()},
        "payment": pay["payment"],
        "auto_renew_next": sorted(choice["auto_renew_next"]),
        "expected_total": format(pay["expected_total"], "f"),
    }
    try:
        answer = renewal_pay_once(
            actor=actor,
            key=pay["form_token"],
            fingerprint=_fingerprint(request, fields),
            items=pay["items"],
            align_day=choice["align_day"],
            pins=pay["pins"],
            payment=pay["payment"],
            auto_renew_next=choice["auto_renew_next"],
            expected_total=pay["expected_total"],
            render=lambda invoice: {"invoice": invoice.pk},
            refused=_refused,
        )
    except DomainError as exc:
        refusal = _sent_twice(request, exc)
        return (None, refusal) if refusal else (redirect("invoices"), "")
    if answer.status != 201:
        return None, _answer_refusal(answer)
    invoice = invoice_of(actor=actor, invoice_id=answer.body["invoice"])
    count = len(pay["items"])
    messages.success(
        request,
        f"Renewed {count} order{'s' if count != 1 else ''}: "
        f"{format_money(invoice.total, invoice.currency)} paid, invoice {invoice.number}.",
    )
    return redirect("invoice-detail", invoice.pk), ""


# The tabs whose orders can be renewed by hand (the cancelled ones end on their date).
RENEWABLE_TABS = ("manual", "auto", "grace")


@customer_view
def renewals(request, actor):
    tab = request.GET.get("tab", "manual")
    if tab not in dict(CENTER_TABS):
        tab = "manual"
    # A page of the tab; "renew all" (renew?all_in=<tab>) takes the whole tab, decided again on the server.
    rows = renewal_center(actor=actor, tab=tab)
    page = paginate(request, rows)
    return render(
        request,
        "panels/customer/renewals.html",
        {
            "tabs": CENTER_TABS,
            "tab": tab,
            "page": page,
            "rows": page.object_list,
            "renewable": tab in RENEWABLE_TABS,
            "batch_max": MAX_BATCH_ORDERS,
            "today": business_today(),
        },
    )


def _renewal_choice(request, actor):
    """The renewal page's input: the ticked orders, or every order of a
    renewal center tab (``all_in``, the soonest first, at most a batch)."""
    tab = request.GET.get("all_in", "")
    if request.method != "GET" or "order" in request.GET or tab not in RENEWABLE_TABS:
        return request.POST if request.method == "POST" else request.GET
    data = request.GET.copy()
    data.setlist("order", [str(pk) for pk in renewal_center(actor=actor, tab=tab).order_ids()[:MAX_BATCH_ORDERS]])
    return data


@customer_view
@require_http_methods(["GET", "POST"])
def balance(request, actor):
    form = TopUpForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            _top_up(request, actor, form.cleaned_data["amount"])
            return redirect("balance")
    account = account_of(actor=actor, account_id=actor.customer_id)
    page = paginate(request, ledger_of(actor=actor, account_id=actor.customer_id))
    card = next((c for c in cards_shown(actor=actor) if c.is_default), None) if stripe_configured() else None
    return render(
        request,
        "panels/customer/balance.html",
        {
            "account": account,
            "page": page,
            "form": form,
            "card": card,
            "cards_enabled": stripe_configured(),
            "form_token": _form_token(),
        },
    )


def _top_up(request, actor, amount: Decimal) -> None:
    """The top-up form, once per form token (see FORM_TOKEN): its outcome as a
    message, the first submit's outcome for a second submit."""
    token = posted_token(request.POST)
    if token is None:
        messages.error(request, EXPIRED)
        return
    try:
        answer = top_up_once(
            actor=actor,
            key=token,
            fingerprint=_fingerprint(request, {"amount": format(amount, "f")}),
            amount=amount,
            render=lambda attempt: {
                "state": attempt.state,
                "amount": format_money(attempt.amount, attempt.currency),
                "error": attempt.error,
            },
            refused=_refused,
        )
    except DomainError as exc:
        refusal = _sent_twice(request, exc)
        if refusal:
            messages.error(request, sentence(refusal))
        return
    if answer.status != 201:
        messages.error(request, sentence(_answer_refusal(answer)))
        return
    result = answer.body
    if result["state"] == AttemptState.SUCCEEDED:
        messages.success(request, f"Added {result['amount']} to your balance.")
    elif result["state"] == AttemptState.FAILED:
        messages.error(request, f"The card was not charged: {result['error'] or 'declined'}. Nothing was added.")
    else:
        messages.info(request, f"The card's answer for {result['amount']} has not arrived yet. " + SETTLED_LATER)


@customer_view
def invoices(request, actor):
    return render(request, "panels/customer/invoices.html", {"page": paginate(request, invoices_of(actor=actor))})


@customer_view
def invoice_detail(request, actor, invoice_id: int):
    invoice = invoice_of(actor=actor, invoice_id=invoice_id)
    template = "panels/customer/invoice_print.html" if request.GET.get("print") else "panels/customer/invoice.html"
    return render(request, template, {"invoice": invoice, "lines": list(invoice.lines.all())})


MESSAGES = {"list_url": "messages", "detail_url": "message-detail", "for_reseller": False}


@customer_view
def messages_list(request, actor):
    return messages_page(request, actor, MESSAGES)


@customer_view
def message_detail(request, actor, notice_id: int):
    return message_page(request, actor, notice_id, MESSAGES)


@customer_view
@require_http_methods(["GET", "POST"])
def account_settings(request, actor):
    if request.method == "POST":
        try:
            on = parse_switch(request.POST.get("auto_renew", ""))
        except forms.ValidationError as exc:
            messages.error(request, sentence(exc.messages[0]))
            return redirect("settings")
        attempt(
            request,
            lambda: account_update(actor=actor, account_id=actor.customer_id, auto_renew=on),
            success=f"Auto-renew is now {'on' if on else 'off'} for your whole account."
            + (
                ""
                if on
                else " No order will renew by itself until you switch it on again, except those your provider locked."
            ),
        )
        return back_to(request, "settings")
    account = account_of(actor=actor, account_id=actor.customer_id)
    locked = locked_orders_of(actor=actor, customer_id=actor.customer_id)
    return render(request, "panels/customer/settings.html", {"account": account, "locked": locked})
