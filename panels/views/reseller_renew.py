"""Renewing by hand from the reseller panel (SPEC "Manual renewal", "Resellers
are customers too"), on the customer's own renewal page (customer.renew_page):

- for a customer of the reseller's subtree: its orders, paid from that
  customer's balance or saved card, by the reseller's login (the audit log
  names it) through the same quote and pay services;
- "Our orders": the reseller's own account, held with the reseller above it,
  where its staff act as that account's customer (tenants.selectors
  own_account_actor) on these pages only.
"""

import functools

from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from balances.selectors import account_of
from core.dates import business_today
from core.errors import NotFound
from core.parse import id_or_none
from invoices.pdf import pdf_response
from invoices.selectors import invoice_detail, invoices_of
from orders.selectors import OrderFilters, orders_of
from panels.views.common import paginate, reseller_view, with_days
from panels.views.customer import renew_page
from tenants.selectors import customer_detail, own_account_actor

RECENT_INVOICES = 10  # the latest invoices "Our orders" lists


@require_http_methods(["GET", "POST"])
@reseller_view
def customer_renew(request, actor, customer_id: int):
    """The renewal page for one customer's orders (``order``, repeated): an
    order of another customer answers 404, like one outside the subtree."""
    found = customer_detail(actor=actor, customer_id=customer_id)
    data = request.POST if request.method == "POST" else request.GET
    _only_orders_of(actor, found.pk, data.getlist("order"))
    back = reverse("reseller-customer", args=[found.pk])
    face = {
        "back": back,
        "back_label": found.name,
        "whose": found.name,
        "invoice": "reseller-invoice",
        "invoices": back,
        "balance": "",  # the customer tops up in its own panel
        "cards": "",  # and saves its cards there
        "tabs": (),  # the renewal center is the customer's
    }
    return renew_page(request, actor, face)


def _only_orders_of(actor, customer_id: int, posted: list[str]) -> None:
    """NotFound unless every order posted is the customer's (one that is
    not a number is the form's to refuse, with its own message)."""
    ids = {order_id for order_id in map(id_or_none, posted) if order_id is not None}
    if not ids:
        return
    mine = set(
        orders_of(actor=actor, filters=OrderFilters(customer_id=customer_id), on=business_today())
        .filter(pk__in=ids)
        .values_list("pk", flat=True)
    )
    missing = sorted(ids - mine)
    if missing:
        raise NotFound(f"order {missing[0]} not found")


@reseller_view
def invoice(request, actor, invoice_id: int):
    """An invoice of a customer of the subtree (a renewal the reseller paid
    for it lands here)."""
    found = invoice_detail(actor=actor, invoice_id=invoice_id)
    back = (reverse("reseller-customer", args=[found.customer_id]), found.customer.name)
    return _invoice_page(request, found, back, pdf=reverse("reseller-invoice-pdf", args=[found.pk]))


@reseller_view
def invoice_pdf(request, actor, invoice_id: int):
    return pdf_response(invoice_detail(actor=actor, invoice_id=invoice_id))


def _invoice_page(request, found, back: tuple[str, str], *, pdf: str):
    return render(
        request,
        "panels/reseller/invoice.html",
        {"invoice": found, "lines": list(found.lines.all()), "back": back[0], "back_label": back[1], "pdf": pdf},
    )


def own_account_view(view):
    """A page of "Our orders": the view gets the reseller's own account as
    its customer (tenants.selectors.own_account_actor); 404 without one."""

    @reseller_view
    @functools.wraps(view)
    def wrapper(request, actor, *args, **kwargs):
        return view(request, own_account_actor(actor=actor), *args, **kwargs)

    return wrapper


@reseller_view
def our_orders(request, actor):
    try:
        own = own_account_actor(actor=actor)
    except NotFound:
        return render(request, "panels/reseller/our_orders.html", {"account": None})
    today = business_today()
    page = paginate(request, orders_of(actor=own, on=today))
    with_days(page.object_list, today)
    return render(
        request,
        "panels/reseller/our_orders.html",
        {
            "account": account_of(actor=own, account_id=own.customer_id),
            "page": page,
            "invoices": list(invoices_of(actor=own)[:RECENT_INVOICES]),
        },
    )


@require_http_methods(["GET", "POST"])
@own_account_view
def our_renew(request, own):
    face = {
        "back": reverse("reseller-our-orders"),
        "back_label": "Our orders",
        "whose": "",
        "invoice": "reseller-our-invoice",
        "invoices": reverse("reseller-our-orders"),
        "balance": "",
        "cards": "",
        "tabs": (),
    }
    return renew_page(request, own, face)


@own_account_view
def our_invoice(request, own, invoice_id: int):
    found = invoice_detail(actor=own, invoice_id=invoice_id)
    pdf = reverse("reseller-our-invoice-pdf", args=[found.pk])
    return _invoice_page(request, found, (reverse("reseller-our-orders"), "Our orders"), pdf=pdf)


@own_account_view
def our_invoice_pdf(request, own, invoice_id: int):
    return pdf_response(invoice_detail(actor=own, invoice_id=invoice_id))
