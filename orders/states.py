"""The order lifecycle (SPEC "Orders") as data and one pure check.

active -> suspended      the paid-thru date passed unrenewed
suspended -> active      renewed during grace
suspended -> terminated  grace is over; terminated is final
"""

from core.choices import LabelledEnum
from core.errors import IllegalTransition


class OrderStatus(LabelledEnum):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    TERMINATED = "terminated", "Terminated"


ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.ACTIVE: frozenset({OrderStatus.SUSPENDED}),
    OrderStatus.SUSPENDED: frozenset({OrderStatus.ACTIVE, OrderStatus.TERMINATED}),
    OrderStatus.TERMINATED: frozenset(),
}

_WHY_NOT = {
    (OrderStatus.TERMINATED, None): "terminated is final: the service and its data are gone",
    (OrderStatus.ACTIVE, OrderStatus.TERMINATED): "an active order must be suspended and run out its grace first",
    (OrderStatus.ACTIVE, OrderStatus.ACTIVE): "it is already active",
    (OrderStatus.SUSPENDED, OrderStatus.SUSPENDED): "it is already suspended",
}


def check_transition(current: str, target: str, *, label: str = "order") -> None:
    """Raise IllegalTransition, with a sentence saying why, unless the lifecycle
    allows ``current`` -> ``target``."""
    if target not in OrderStatus.values:
        raise IllegalTransition(f"{label}: unknown status {target!r} (one of {', '.join(OrderStatus.values)})")
    if target in ALLOWED_TRANSITIONS[current]:
        return
    why = _WHY_NOT.get((current, target)) or _WHY_NOT.get((current, None)) or "the lifecycle does not allow it"
    raise IllegalTransition(f"{label}: cannot go from {current} to {target}: {why}")
