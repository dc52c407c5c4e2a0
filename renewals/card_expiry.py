"""Card-expiry warnings (SPEC "Beyond the peers": the ``card_expiring``
notice): an account's default saved card (the one the night charges) that
expires before an order's next auto-renewal is a decline waiting to happen.

The customer hears of it 30 days before that renewal's first attempt (the
day its window opens), or on the next night when that mark passed unseen (a
missed night, a card made default since), as long as the attempt has not
happened yet: one notice per card and cycle (subject ``card:<id>``, cycle =
the paid-thru date of the first renewal at risk), naming every order of the
account whose first attempt falls in the next 30 days and the card would
not pay, with the card and each renewal's date. An order a notice of the
card already named for its cycle is not named again, so a later notice only
ever brings news.

"Will be auto-renewed" is the sweep's own rule (renewals.rules.eligibility
over renewals.facts), asked of the few orders the query finds: those of
accounts whose default card expires within 30 days, whose window opens
within 30 days. The pure part (the card's last day, when the warning is
due, the query form of "expires before") comes first.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Q
from django.urls import reverse

from balances.models import Account
from core.dates import business_today
from core.isolation import Subject, isolated
from core.models import Stage
from notifications.models import Notice, NoticeKind
from notifications.services import NoticeSpec, notices_create
from orders.models import Order
from orders.periods import days_in_month
from orders.states import OrderStatus
from payments.models import Card
from renewals.facts import Catalog, OrderRow, account_rows, facts_for, load_catalog, order_rows
from renewals.reminders import account_parts, accounts_of, notice_row
from renewals.rules import eligibility

WARNING_DAYS = 30


# The pure part: plain values, no database.


def card_last_day(exp_month: int | None, exp_year: int | None) -> datetime.date | None:
    """The last day a card can pay: the end of its expiry month (None when
    the processor never said)."""
    if not exp_month or not exp_year:
        return None
    return datetime.date(exp_year, exp_month, days_in_month(exp_year, exp_month))


def card_expires_before(exp_month: int | None, exp_year: int | None, day: datetime.date) -> bool:
    """Whether a card cannot pay on ``day``: it expired at the end of an
    earlier month. A card without a known expiry is not called expired.
    Its query form: ``card_expires_before_q``."""
    last = card_last_day(exp_month, exp_year)
    return last is not None and last < day


def card_expires_before_q(day: datetime.date) -> Q:
    """``card_expires_before(card.exp_month, card.exp_year, day)`` as a
    condition on cards: the expiry month is before ``day``'s month."""
    return Q(exp_year__lt=day.year) | Q(exp_year=day.year, exp_month__lt=day.month)


def warning_due(on: datetime.date, attempt_on: datetime.date) -> bool:
    """Whether the night of ``on`` warns about a renewal first attempted on
    ``attempt_on``: 30 days before it, or any night after that mark while the
    attempt is still ahead (the night of the attempt is too late: the sweep
    tried the card before the notices are written)."""
    return on < attempt_on <= on + datetime.timedelta(days=WARNING_DAYS)


def card_label(brand: str, last4: str) -> str:
    """How a notice and the cards page name a card: "visa •••• 4242"."""
    return f"{brand or 'card'} •••• {last4 or '????'}"


@dataclass(frozen=True)
class AtRisk:
    order: OrderRow
    attempt_on: datetime.date  # the renewal's first attempt (its window opens)


# The nightly pass.


def card_expiry_warnings(on: datetime.date, catalog: Catalog, *, run_id: int | None = None) -> int:
    """Write the ``card_expiring`` notices of business date ``on``; returns
    how many accounts were offered one.

    One indexed query streams the candidates a part of accounts at a time:
    active orders whose window opens in the next 30 days (each order's own
    lead days, Catalog.by_lead_days) of accounts whose default card expires
    before the last of those days. A portal where few cards expire reads few
    orders, however many renew."""
    last = on + datetime.timedelta(days=WARNING_DAYS)
    expiring = Card.objects.filter(card_expires_before_q(last), is_default=True)
    candidates = Order.objects.filter(
        catalog.by_lead_days(lambda lead: Q(expires_on__gt=on + lead, expires_on__lte=last + lead)),
        status=OrderStatus.ACTIVE,
        customer_id__in=expiring.values("account_id"),
    )
    return sum(_warnings_part(part, catalog, on, run_id) for part in account_parts(candidates))


def _warnings_part(candidates, catalog: Catalog, on: datetime.date, run_id: int | None) -> int:
    orders = order_rows(candidates.order_by("customer_id", "pk"))
    if not orders:
        return 0
    accounts = accounts_of(orders, candidates)
    cards = {
        card.account_id: card
        for card in Card.objects.filter(account_id__in=candidates.values("customer_id"), is_default=True)
    }
    named = _already_named([card.pk for card in cards.values()])
    at_risk: dict[int, list[AtRisk]] = defaultdict(list)
    for order in orders:
        card = cards.get(order.customer_id)
        if card is None:
            continue  # made default elsewhere between the two reads: tomorrow's night sees it
        verdict = eligibility(facts_for(order, accounts[order.customer_id], catalog), on)
        attempt_on = verdict.window_opens
        if verdict.reason is not None or attempt_on is None or not warning_due(on, attempt_on):
            continue
        if not card_expires_before(card.exp_month, card.exp_year, attempt_on):
            continue
        if (order.ref, order.expires_on.isoformat()) in named.get(card.pk, ()):
            continue
        at_risk[order.customer_id].append(AtRisk(order, attempt_on))

    def build(customer_id: int) -> NoticeSpec:
        return card_expiring_notice(
            cards[customer_id], at_risk[customer_id], accounts[customer_id], catalog=catalog, on=on
        )

    def write(part: list[int]) -> None:
        notices_create([build(customer_id) for customer_id in part])

    isolated(
        sorted(at_risk),
        write,
        stage=Stage.SCHEDULE,
        subject=lambda customer_id: Subject(
            key=f"account:{customer_id}:card_expiring",
            label=f"card-expiry warning of account {customer_id}",
            customer_id=customer_id,
            orders=tuple(risk.order.ref for risk in at_risk[customer_id]),
        ),
        on=on,
        run_id=run_id,
        chunk=max(1, len(at_risk)),
    )
    return len(at_risk)


def _already_named(card_ids: list[int]) -> dict[int, set[tuple[str, str]]]:
    """{card id: {(order ref, paid-thru)}} the card's earlier warnings named:
    one query through the notices' unique index (kind, subject_key, ...)."""
    if not card_ids:
        return {}
    named: dict[int, set[tuple[str, str]]] = defaultdict(set)
    rows = Notice.objects.filter(
        kind=NoticeKind.CARD_EXPIRING, subject_key__in=[f"card:{pk}" for pk in card_ids]
    ).values_list("subject_key", "data")
    for subject_key, data in rows:
        card_id = int(subject_key.removeprefix("card:"))
        named[card_id].update((row["ref"], row["paid_thru"]) for row in data.get("orders", ()))
    return named


def card_expiring_notice(card: Card, risks: list[AtRisk], account, *, catalog: Catalog, on: datetime.date):
    """The notice of ``card`` for ``risks`` (an account's renewals it will
    not pay), keyed by the first of them (its paid-thru date is the cycle)."""
    risks = sorted(risks, key=lambda r: (r.attempt_on, r.order.expires_on, r.order.ref))
    first = risks[0]
    return NoticeSpec(
        kind=NoticeKind.CARD_EXPIRING,
        customer_id=account.customer_id,
        reseller_id=account.reseller_id,
        recipient=account.email,
        subject_key=f"card:{card.pk}",
        cycle=first.order.expires_on.isoformat(),
        business_date=on,
        data={
            "card": card_label(card.brand, card.last4),
            "card_expires": f"{card.exp_month:02d}/{card.exp_year}",
            "attempt_on": first.attempt_on.isoformat(),
            # Each renewal at risk (ref, paid-thru, first attempt): what the
            # notice says, and what keeps a later notice of the card from naming it again.
            "orders": [
                {**notice_row(r.order, catalog, account.currency), "attempt_on": r.attempt_on.isoformat()}
                for r in risks
            ],
            "cards_path": reverse("cards"),
        },
        order_refs=[r.order.ref for r in risks],
    )


# The cards page (registered with payments.card_notes in renewals.apps).


def card_expiry_notes(*, actor, cards: list[Card], on: datetime.date | None = None) -> dict[int, list[str]]:
    """{card id: [warning]} for the acting customer's cards page: the default
    card, when it expires before the next automatic attempt of one of the
    customer's orders (by the sweep's rule). Four queries (the orders, the
    account, the catalog's plans and prices, its resellers) when there is a
    default card with an expiry, none otherwise."""
    card = next((c for c in cards if c.is_default and c.exp_month and c.exp_year), None)
    if card is None:
        return {}
    on = on or business_today()
    orders = order_rows(
        Order.objects.visible_to(actor).filter(
            customer_id=card.account_id, status=OrderStatus.ACTIVE, expires_on__gte=on
        )
    )
    if not orders:
        return {}
    accounts = account_rows(Account.objects.filter(pk=card.account_id))
    catalog = load_catalog()
    attempts = []
    for order in orders:
        verdict = eligibility(facts_for(order, accounts[order.customer_id], catalog), on)
        if verdict.reason is None and verdict.window_opens is not None:
            attempts.append((max(verdict.window_opens, on), order.ref))
    if not attempts:
        return {}
    attempt_on, ref = min(attempts)
    if not card_expires_before(card.exp_month, card.exp_year, attempt_on):
        return {}
    at_risk = sum(1 for day, _ref in attempts if card_expires_before(card.exp_month, card.exp_year, day))
    others = f" and {at_risk - 1} more" if at_risk > 1 else ""
    return {
        card.pk: [
            f"This card expires at the end of {card.exp_month:02d}/{card.exp_year}, before the automatic renewal "
            f"of {ref}{others} on {attempt_on}: update it or add another card and make it your default."
        ]
    }
