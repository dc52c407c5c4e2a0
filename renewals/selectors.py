"""Reads of the renewal engine for the panels and the API: always scoped to
the acting user."""

import datetime
from dataclasses import dataclass

from balances.models import Account
from core.dates import business_today
from core.errors import NotFound
from orders.models import Order
from renewals.facts import account_rows, facts_for, load_catalog, order_rows
from renewals.rules import WHAT_TO_DO, Eligibility, Reason, eligibility
from tenants.scope import Actor


@dataclass(frozen=True)
class RenewalOutlook:
    """ "Why won't this renew?" for one order, in plain words."""

    eligibility: Eligibility
    reason: Reason | None
    sentence: str
    what_to_do: str


def order_renewal_outlook(*, actor: Actor, order_id: int, on: datetime.date | None = None) -> RenewalOutlook:
    """Whether the order will renew automatically and, if not, the one reason
    (SPEC precedence) with what to do: the same rule the nightly sweep uses."""
    on = on or business_today()
    orders = order_rows(Order.objects.visible_to(actor).filter(pk=order_id))
    if not orders:
        raise NotFound(f"order {order_id} not found")
    order = orders[0]
    account = account_rows(Account.objects.filter(pk=order.customer_id))[order.customer_id]
    verdict = eligibility(facts_for(order, account, load_catalog()), on)
    if verdict.reason is None:
        opens = verdict.window_opens
        sentence = f"It renews automatically: the first attempt is on {opens}." if opens else "It renews automatically."
        return RenewalOutlook(verdict, None, sentence, "Keep enough funds on the account (or a usable card).")
    return RenewalOutlook(verdict, verdict.reason, verdict.reason.label, WHAT_TO_DO[verdict.reason])
