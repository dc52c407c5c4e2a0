"""Row locks, always taken in primary-key order so that two callers locking
overlapping sets cannot deadlock each other.

Call these inside ``transaction.atomic()``; on SQLite ``select_for_update`` is
a no-op and the database-wide write lock serialises writers instead.
"""

from collections.abc import Iterable


def lock_account(account_id: int):
    from balances.models import Account

    return Account.objects.select_for_update().get(pk=account_id)


def lock_accounts(account_ids: Iterable[int]) -> dict:
    from balances.models import Account

    rows = Account.objects.select_for_update().filter(pk__in=set(account_ids)).order_by("pk")
    return {row.pk: row for row in rows}


def lock_order(order_id: int):
    from orders.models import Order

    return Order.objects.select_for_update().get(pk=order_id)
