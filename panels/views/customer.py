"""The customer panel: orders, renewals (one or a batch), balance, invoices,
messages and settings. Each view parses, calls one selector or service, and
renders; every read is scoped to the signed-in customer."""

import uuid
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_http_methods

from balances.selectors import account_of, ledger_of
from balances.services import account_update
from core.dates import business_today
from core.errors import DomainError, NotFound, error_body
from core.money import format_money
from core.parse import MAX_BATCH_ORDERS, is_ascii_int
from invoices.pdf import pdf_response
from invoices.selectors import invoice_detail as invoice_of
from invoices.selectors import invoices_of
from once.idempotency import request_fingerprint
from once.selectors import renewal_preview
from once.services import renewal_pay_once, top_up_once
from orders.bulk import orders_bulk_auto_renew
from orders.models import PaymentSource
from orders.selectors import categories, orders_of, periods_of
from orders.selectors import order_detail as order_of
from orders.services import order_set_flags
from panels.forms import (
    BULK_MOVES,
    EXPIRED,
    BulkMoveForm,
    CenterFilterForm,
    OrderFilterForm,
    RenewForm,
    RenewPayForm,
    TopUpForm,
    first_error,
    parse_payment_source,
    parse_renewal_day,
    parse_switch,
    posted_token,
)
from panels.views.calendar import calendar_context
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
from renewals.rules import renewal_prices
from renewals.selectors import (
    CENTER_TABS,
    center_products,
    locked_orders_of,
    order_renewal_outlook,
    renewal_center,
    standing_renewal_day,
)

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
            # Priced as a quote prices them: its individual price for its tenure.
            "periods": renewal_prices(
                dict(periods_of([order.plan_id]).get(order.plan_id, [])), order.tenure_months, order.individual_price
            ),
            "payment_sources": PaymentSource.choices,
            "today": today,
        },
    )


@customer_view
@require_http_methods(["GET", "POST"])
def renew(request, actor):
    return renew_page(request, actor, RENEW_FACE)


def renew_page(request, actor, face: dict):
    """Renew one order or a batch (ticked, or a renewal center tab's
    orders: ``all_in``): a period per order (default 1 month, or the
    shortest the plan sells), optionally aligned to one renewal day; each line
    and the total; pay from the balance or the card; auto-renew on from the
    next cycle. Nothing is paid until the customer confirms the quote shown,
    and only at the total shown: the form posts it back, and a total that
    moved meanwhile is refused (price_changed) with the new quote drawn
    instead. A second submit of one form pays nothing and shows the first
    result (panels.forms.FORM_TOKEN).

    ``face``: where the page sits (RENEW_FACE here; the reseller panel
    renews a customer's orders, and its own, with the same page)."""
    form = RenewForm(_renewal_choice(request, actor, face["tabs"]))
    if not form.is_valid():
        messages.error(request, sentence(first_error(form)))
        return redirect(face["back"])
    choice = form.cleaned_data
    refusal = ""
    if request.method == "POST" and request.POST.get("action") == "pay":
        paid, refusal = _renewal_pay(request, actor, choice, face)
        if paid is not None:
            return paid
    preview = renewal_preview(
        actor=actor,
        order_ids=choice["order"],
        months=choice["months"],
        align_day=choice["align_day"],
        csrs=choice["csrs"],
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
            # An SSL order asks for its CSR; what was pasted comes back, with why it was refused.
            "needs_csr": row.order.plan.category.renewal_needs_csr,
            "csr": choice["csrs"].get(row.order.pk, ""),
            "csr_error": preview.refused if preview.refused_order == row.order.pk else "",
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
            "face": face,
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


def _renewal_pay(request, actor, choice: dict, face: dict):
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
        "csrs": {str(i): pem for i, pem in sorted(choice["csrs"].items())},
    }
    try:
        answer = renewal_pay_once(
            actor=actor,
            key=pay["form_token"],
            fingerprint=_fingerprint(request, fields),
            items=pay["items"],
            align_day=choice["align_day"],
            pins=pay["pins"],
            csrs=choice["csrs"],
            payment=pay["payment"],
            auto_renew_next=choice["auto_renew_next"],
            expected_total=pay["expected_total"],
            render=lambda invoice: {"invoice": invoice.pk},
            refused=_refused,
        )
    except DomainError as exc:
        refusal = _sent_twice(request, exc)
        return (None, refusal) if refusal else (redirect(face["invoices"]), "")
    if answer.status != 201:
        return None, _answer_refusal(answer)
    invoice = invoice_of(actor=actor, invoice_id=answer.body["invoice"])
    count = len(pay["items"])
    messages.success(
        request,
        f"Renewed {count} order{'s' if count != 1 else ''}: "
        f"{format_money(invoice.total, invoice.currency)} paid, invoice {invoice.number}.",
    )
    return redirect(face["invoice"], invoice.pk), ""


# The tabs whose orders can be renewed by hand (the cancelled ones end on their date).
RENEWABLE_TABS = ("manual", "auto", "grace")

# Where the renewal page sits (renew_page), here in the customer's panel.
RENEW_FACE = {
    "back": reverse_lazy("orders"),
    "back_label": "Orders",
    "whose": "",  # the account renewed, when the page names it (a reseller renewing for a customer)
    "invoice": "invoice-detail",  # a paid renewal's invoice: the url name, given the invoice's id
    "invoices": reverse_lazy("invoices"),
    "balance": reverse_lazy("balance"),  # where to top up ("" when not from this page)
    "cards": reverse_lazy("cards"),  # where to save a card ("" when not from this page)
    "tabs": RENEWABLE_TABS,  # the renewal center tabs whose orders the page may take (all_in)
}


# The renewal center tabs whose orders move to manual or auto renewal in bulk.
MOVABLE_TABS = ("manual", "auto")
# At most this many skipped orders are named in the page's message.
SKIPPED_SHOWN = 20


@customer_view
@require_http_methods(["GET", "POST"])
def renewals(request, actor):
    """The renewal center: a tab, filtered (the filters ride in the query
    string, so they survive paging and the forms post back to them); its
    ticked orders renewed (``action=renew``) or, with every order of the tab
    and filter, moved to manual or auto renewal (panels.forms.BulkMoveForm)."""
    tab = request.GET.get("tab", "manual")
    if tab not in dict(CENTER_TABS):
        tab = "manual"
    today = business_today()
    form = CenterFilterForm(request.GET, products=center_products())
    filters = form.filters(today)
    if request.method == "POST":
        return _center_action(request, actor, tab, filters, today)
    # A page of the tab; "renew all" (renew?all_in=<tab>) takes the whole tab, decided again on the server.
    rows = renewal_center(actor=actor, tab=tab, on=today, filters=filters)
    page = paginate(request, rows)
    kept = request.GET.copy()
    for name in ("tab", "page"):
        kept.pop(name, None)
    return render(
        request,
        "panels/customer/renewals.html",
        {
            "tabs": CENTER_TABS,
            "tab": tab,
            "page": page,
            "rows": page.object_list,
            "renewable": tab in RENEWABLE_TABS,
            "movable": tab in MOVABLE_TABS,
            "batch_max": MAX_BATCH_ORDERS,
            "today": today,
            "form": form,
            "filtered": bool(filters),
            # The filters as a query string, for the tabs' links and the forms.
            "filter_query": kept.urlencode(),
            "filter_fields": [(name, value) for name, value in kept.lists() for value in value],
        },
    )


def _center_action(request, actor, tab: str, filters, today):
    """The renewal center's POST: renew the ticked orders (to the renewal
    page, each open renewal at its period), or move orders in bulk; then back
    to the same tab, filter and page."""
    back = redirect(request.get_full_path())
    if request.POST.get("action") == "renew":
        ticked = request.POST.getlist("order")
        if not ticked:
            messages.error(request, "Tick at least one order to renew.")
            return back
        query = QueryDict(mutable=True)
        query.setlist("order", ticked)
        for order_id in ticked:
            if request.POST.get(f"months_{order_id}"):
                query[f"months_{order_id}"] = request.POST[f"months_{order_id}"]
        return redirect(f"{reverse('renew')}?{query.urlencode()}")
    form = BulkMoveForm(request.POST)
    if not form.is_valid():
        messages.error(request, sentence(first_error(form)))
        return back
    move = form.cleaned_data
    on = BULK_MOVES[move["move"]]
    if move["scope"] == "all":
        if tab not in MOVABLE_TABS:
            messages.error(request, "Only the manual and auto renewal tabs move their orders in bulk.")
            return back
        order_ids = renewal_center(actor=actor, tab=tab, on=today, filters=filters).order_ids()
    else:
        order_ids = move["order"]
    result = attempt(request, lambda: orders_bulk_auto_renew(actor=actor, order_ids=order_ids, on=on))
    if result is not None:
        _bulk_messages(request, result, "auto renewal" if on else "manual renewal")
    return back


def _bulk_messages(request, result, where: str) -> None:
    """What a bulk move did, and which orders it skipped and why."""
    moved = f"Moved {result.changed} order{pluralize(result.changed)} to {where}."
    if result.unchanged:
        moved += f" {result.unchanged} {'was' if result.unchanged == 1 else 'were'} already there."
    (messages.success if result.changed else messages.info)(request, moved)
    by_why: dict[str, list[str]] = {}
    for ref, why in result.skipped:
        by_why.setdefault(why, []).append(ref)
    for why, refs in by_why.items():
        named = ", ".join(refs[:SKIPPED_SHOWN])
        if len(refs) > SKIPPED_SHOWN:
            named += f" and {len(refs) - SKIPPED_SHOWN} more"
        messages.warning(request, f"Skipped {len(refs)} order{pluralize(len(refs))} ({named}): {why}.")


def _renewal_choice(request, actor, tabs=RENEWABLE_TABS):
    """The renewal page's input: the ticked orders, or every order of a
    renewal center tab and filter (``all_in``, the soonest first, at most a
    batch; each open renewal at its period). On arriving (no renewal day
    asked yet), aligned to the account's standing renewal day, if it has one."""
    tab = request.GET.get("all_in", "")
    if request.method != "GET":
        return request.POST
    data = request.GET.copy()
    if "order" not in request.GET and tab in tabs:
        today = business_today()
        filters = CenterFilterForm(request.GET, products=center_products()).filters(today)
        rows = renewal_center(actor=actor, tab=tab, on=today, filters=filters)
        taken = rows.order_ids()[:MAX_BATCH_ORDERS]
        data.setlist("order", [str(pk) for pk in taken])
        for order_id, months in rows.open_months().items():
            data.setdefault(f"months_{order_id}", str(months))
    first = data.getlist("order")[:1]
    if "align_day" not in data and first and is_ascii_int(first[0]):
        day = standing_renewal_day(actor=actor, order_id=int(first[0]))
        if day:
            data["align_day"] = str(day)
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


@customer_view
def invoice_pdf(request, actor, invoice_id: int):
    """The invoice as a PDF download (invoices/pdf.py): the document the
    renewal mail attaches."""
    return pdf_response(invoice_of(actor=actor, invoice_id=invoice_id))


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
    if request.method == "POST" and "renewal_day" in request.POST:
        return _renewal_day_set(request, actor)
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
    return render(
        request,
        "panels/customer/settings.html",
        {"account": account, "locked": locked, **calendar_context(request, actor)},
    )


def _renewal_day_set(request, actor):
    """The standing renewal day (SPEC "Standing renewal day"): 1-31, or empty for none."""
    try:
        day = parse_renewal_day(request.POST.get("renewal_day", ""))
    except forms.ValidationError as exc:
        messages.error(request, sentence(exc.messages[0]))
        return redirect("settings")
    attempt(
        request,
        lambda: account_update(actor=actor, account_id=actor.customer_id, renewal_day=day),
        success=(
            f"Manual renewals now align to day {day} of the month by default (you can untick it when renewing)."
            if day
            else "Manual renewals no longer align to a standing renewal day."
        ),
    )
    return back_to(request, "settings")
