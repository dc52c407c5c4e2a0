"""Payment sources of a renewal: the balance (with credit limit), or a saved
card. The card path (Stripe) is its own issue; until it is configured no card
is usable, so card-sourced orders fail with ``no_usable_card`` and a balance
shortfall with ``insufficient_funds``, as SPEC.md says for an account without
a usable card."""

import datetime

from django.conf import settings


def cards_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def mark_usable_cards(accounts: dict, on: datetime.date | None = None) -> None:
    """Set ``card_usable`` on each AccountRow that has a default saved card the
    card path can charge. Without Stripe configured there is none. On ``on``,
    a card a hard decline blocked up to that date or later is not usable:
    the account's batch is tried from the balance alone (docs/dunning.md)."""
    from payments.models import Card

    usable = set()
    if cards_configured() and accounts:
        cards = Card.objects.filter(account_id__in=list(accounts), is_default=True)
        if on is not None:
            cards = cards.exclude(retry_blocked_until__gte=on)
        usable = set(cards.values_list("account_id", flat=True))
    for pk, account in accounts.items():
        account.card_usable = pk in usable
