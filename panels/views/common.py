"""What every panel view shares: who may see it, errors in plain words, pages."""

import functools
from urllib.parse import unquote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from core.errors import DomainError, NotFound
from notifications.content import render_many
from notifications.selectors import message_detail, messages_of
from notifications.services import notice_mark_read
from orders.periods import days_remaining
from tenants.scope import Actor, ActorKind, actor_for_user

PER_PAGE = 25
EXPIRING_DAYS = 30  # an active order expiring this soon stands out in the lists


def with_days(orders, today):
    """Days remaining, and whether the row stands out, for the order lists."""
    for order in orders:
        days = days_remaining(order.expires_on, today)
        order.days_remaining = days
        order.expiring = order.status == "active" and days is not None and days <= EXPIRING_DAYS
        order.row_class = "suspended" if order.status == "suspended" else "expiring" if order.expiring else ""
    return orders


def panel_view(kind: str):
    """A view for signed-in customers (kind "customer") or resellers
    ("reseller"): called as view(request, actor, ...). Anyone else gets 404;
    a NotFound from a selector or service is a 404 too (an outsider's id must
    look like one that does not exist)."""

    def decorate(view):
        @login_required
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            actor = actor_for_user(request.user)
            if actor.kind != kind:
                raise Http404(f"this page is for {kind}s")
            try:
                return view(request, actor, *args, **kwargs)
            except NotFound as exc:
                raise Http404(str(exc)) from exc

        return wrapper

    return decorate


customer_view = panel_view(ActorKind.CUSTOMER)
reseller_view = panel_view(ActorKind.RESELLER)


def attempt(request, action, *, success: str = "", unchanged: str = "", back: str | None = None):
    """Run a service call from a form: its DomainError becomes a message saying
    what went wrong (the service changed nothing), then back to the page.
    ``success`` is said when it went through; ``unchanged`` instead, when
    given and the call answers that nothing changed (False, or no field).
    Returns the call's result, or None when it failed."""
    try:
        result = action()
    except NotFound:
        raise
    except DomainError as exc:
        messages.error(request, sentence(str(exc)))
        return None
    if unchanged and not result:
        messages.info(request, unchanged)
    elif success:
        messages.success(request, success)
    return result


def sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


def back_to(request, fallback: str, *args):
    """Redirect to the page the form was on (same site only), else ``fallback``."""
    target = request.POST.get("next", "")
    if is_same_site(request, target):
        return redirect(target)
    return redirect(fallback, *args)


def is_same_site(request, target: str) -> bool:
    r"""Whether ``target``, taken from the request, is a path of this site.
    A prefix test is not enough: browsers read a backslash as a slash
    ("/\evil.example" is "//evil.example") and drop tabs and newlines;
    Django's check knows these, and it is asked about the target decoded
    too ("/%09/evil.example"), in case anything on the way decodes it. Only
    paths: a bare "evil.example" would be relative, and no form posts an
    absolute URL of our own."""
    hosts = {request.get_host()}
    if not (target.startswith("/") and target.isascii() and target.isprintable()):
        return False  # the pages post request.get_full_path(): ASCII, control characters escaped
    return all(
        url_has_allowed_host_and_scheme(url, allowed_hosts=hosts, require_https=request.is_secure())
        for url in (target, unquote(target))
    )


def paginate(request, queryset, per_page: int = PER_PAGE):
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def messages_page(request, actor, urls: dict):
    """The signed-in user's messages (the notices), for either panel."""
    # The customer and reseller are what a not yet delivered notice renders from.
    page = paginate(request, messages_of(actor=actor).select_related("customer", "reseller"))
    rows = list(zip(page, render_many(page.object_list), strict=True))
    return render(request, "panels/messages.html", {"page": page, "rows": rows, **urls})


def message_page(request, actor, notice_id: int, urls: dict):
    """One message; opening it marks it read."""
    notice = message_detail(actor=actor, notice_id=notice_id)
    if notice.read_at is None:
        notice_mark_read(actor=actor, notice_id=notice.pk)
    return render(request, "panels/message.html", {"notice": notice, "content": notice.rendered(), **urls})


def home(request):
    """The panel of whoever signed in: customers to their orders, resellers to
    their customers, platform staff to Django admin."""
    if not request.user.is_authenticated:
        return redirect("login")
    actor: Actor = actor_for_user(request.user)
    if actor.kind == ActorKind.CUSTOMER:
        return redirect("orders")
    if actor.kind == ActorKind.RESELLER:
        return redirect("reseller-customers")
    if request.user.is_staff:
        return redirect("admin:index")
    raise Http404("this login has no panel yet: ask your provider to link it to your account")
