"""The account's row lock, for every write that moves its balance or hold.

Locks are always taken in primary-key order so that two callers locking
overlapping sets cannot deadlock each other. Call inside
``transaction.atomic()``; on SQLite ``select_for_update`` is a no-op and the
database-wide write lock serialises writers instead.
"""

from balances.models import Account


def lock_account(account_id: int) -> Account:
    return Account.objects.select_for_update().get(pk=account_id)
