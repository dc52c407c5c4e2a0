"""Orders' row locks, always taken in primary-key order so that two callers
locking overlapping sets cannot deadlock each other.

Call these inside ``transaction.atomic()``; on SQLite ``select_for_update`` is
a no-op and the database-wide write lock serialises writers instead.
"""

from orders.models import Order


def lock_order(order_id: int) -> Order:
    return Order.objects.select_for_update().get(pk=order_id)


def lock_orders(order_ids, *fields: str) -> list[tuple]:
    """(pk, *fields) of these orders, read under their row locks."""
    ids = sorted(set(order_ids))
    return list(Order.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", *fields))
