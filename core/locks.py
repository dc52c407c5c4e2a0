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


def lock_orders(order_ids, *fields: str) -> list[tuple]:
    """(pk, *fields) of these orders, read under their row locks."""
    from orders.models import Order

    ids = sorted(set(order_ids))
    return list(Order.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", *fields))
