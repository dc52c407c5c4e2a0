"""Row locks, always taken in primary-key order so that two callers locking
overlapping sets cannot deadlock each other.

Call these inside ``transaction.atomic()``; on SQLite ``select_for_update`` is
a no-op and the database-wide write lock serialises writers instead.
"""


def lock_account(account_id: int):
    from balances.models import Account

    return Account.objects.select_for_update().get(pk=account_id)


def lock_order(order_id: int):
    from orders.models import Order

    return Order.objects.select_for_update().get(pk=order_id)
