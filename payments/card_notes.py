"""What other apps have to say about a saved card on the cards page.

Payments knows cards, not what they will pay for: whether the default card
expires before an auto-renewal is the renewals' rule. Renewals registers a
provider here when the app is ready (renewals.apps), as it registers its
settle handler (payments.settlement), so payments never imports renewals.
"""

import logging
from collections.abc import Callable

from payments.models import Card

log = logging.getLogger("payments.card_notes")

# provider(actor=..., cards=[Card]) -> {card id: [sentence]}
NotesProvider = Callable[..., dict[int, list[str]]]
_providers: list[NotesProvider] = []


def card_notes_register(provider: NotesProvider) -> None:
    if provider not in _providers:
        _providers.append(provider)


def card_notes(*, actor, cards: list[Card]) -> dict[int, list[str]]:
    """{card id: [sentence]} from every provider, for the acting customer's
    ``cards`` (already scoped to them). A provider that fails costs its
    notes, never the page: the cards stay listed and removable."""
    notes: dict[int, list[str]] = {}
    for provider in _providers:
        try:
            found = provider(actor=actor, cards=cards)
        except Exception:  # noqa: BLE001 - a note is a courtesy; the page must answer
            log.exception("card notes: %s failed; the page is shown without its notes", provider.__qualname__)
            continue
        for card_id, sentences in found.items():
            notes.setdefault(card_id, []).extend(sentences)
    return notes
