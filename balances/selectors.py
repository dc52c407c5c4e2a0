"""Reads of balances and the ledger for the panels, scoped to the acting user."""

from django.db.models import QuerySet

from balances.models import Account, LedgerEntry
from core.errors import NotFound
from tenants.scope import Actor


def account_of(*, actor: Actor, account_id: int) -> Account:
    account = Account.objects.visible_to(actor).select_related("customer").filter(pk=account_id).first()
    if account is None:
        raise NotFound(f"account {account_id} not found")
    return account


def ledger_of(*, actor: Actor, account_id: int) -> QuerySet:
    """An account's ledger, newest first, each entry with its account (its
    currency says how the amounts are shown)."""
    entries = LedgerEntry.objects.visible_to(actor).filter(account_id=account_id).select_related("account")
    return entries.order_by("-created_at", "-pk")
