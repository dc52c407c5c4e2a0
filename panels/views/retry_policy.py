"""The reseller's retry policy page (docs/dunning.md): on which nights of
the attempt window a failing auto-renewal is tried again, for the reseller
itself and each sub-reseller it manages: inherit, every night, or chosen
days before expiry with the last-chance day."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from core.parse import id_or_none
from panels.views.common import attempt, reseller_view, sentence
from renewals.selectors import retry_policy_rows
from tenants.rules import RETRY_DAY_MAX, retry_days_parse
from tenants.services import reseller_set_retry_policy

MODES = ("inherit", "every_night", "days")


@require_http_methods(["GET", "POST"])
@reseller_view
def retry_policy(request, actor):
    if request.method == "POST":
        _save(request, actor)
        return redirect("reseller-retry-policy")
    return render(request, "panels/reseller/retry_policy.html", {"rows": retry_policy_rows(actor=actor)})


def _save(request, actor) -> None:
    """Parse the form, then one service call; a bad value changes nothing
    and says what and where."""
    reseller_id = id_or_none(request.POST.get("reseller", ""))
    mode = request.POST.get("mode", "")
    name = request.POST.get("name", "")[:200] or "the reseller"
    if reseller_id is None or mode not in MODES:
        messages.error(request, "That choice is not known here: nothing changed.")
        return
    days, last = None, 0
    if mode == "days":
        try:
            days = retry_days_parse(request.POST.get("days", ""))
        except ValueError as exc:
            messages.error(request, sentence(f"{name}: {exc}; nothing changed"))
            return
        if days is None:
            messages.error(request, f"{name}: give the days before expiry, such as 7,3,1,0; nothing changed.")
            return
    if mode != "inherit":
        text = request.POST.get("last_chance_day", "").strip() or "0"
        if not text.isdigit() or int(text) > RETRY_DAY_MAX:
            messages.error(
                request, f"{name}: the last-chance day must be a whole number of days from 0 to {RETRY_DAY_MAX}."
            )
            return
        last = int(text)
    attempt(
        request,
        lambda: reseller_set_retry_policy(
            actor=actor,
            reseller_id=reseller_id,
            retry_own=mode != "inherit",
            retry_days=days,
            last_chance_day=last,
            reason="panel",
        ),
        success=f"{name}: the retry policy is saved.",
        unchanged=f"{name} already had this retry policy: nothing changed.",
    )
