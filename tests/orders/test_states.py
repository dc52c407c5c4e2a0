import pytest

from audit.models import AuditEvent
from core.errors import IllegalTransition
from orders.services import order_transition
from orders.states import OrderStatus, check_transition
from tests.factories import OrderFactory

A, S, T = OrderStatus.ACTIVE, OrderStatus.SUSPENDED, OrderStatus.TERMINATED


@pytest.mark.parametrize(("current", "target"), [(A, S), (S, A), (S, T)])
def test_legal_transitions(current, target):
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target", "why"),
    [
        (T, A, "cannot go from terminated to active: terminated is final"),
        (T, S, "cannot go from terminated to suspended: terminated is final"),
        (A, T, "must be suspended and run out its grace first"),
        (A, A, "already active"),
        (S, S, "already suspended"),
        (A, "deleted", "unknown status 'deleted'"),
    ],
)
def test_illegal_transitions_say_why(current, target, why):
    with pytest.raises(IllegalTransition, match=why):
        check_transition(current, target, label="order o1")


@pytest.mark.django_db
def test_transition_service_moves_and_audits(system):
    order = OrderFactory()
    order_transition(actor=system, order_id=order.pk, to=S, reason="paid-thru passed")
    order.refresh_from_db()
    assert order.status == S
    event = AuditEvent.objects.get(action="order.status")
    assert (event.before, event.after, event.actor_label, event.target_ref) == (
        "active",
        "suspended",
        "test",
        order.ref,
    )


@pytest.mark.django_db
def test_transition_service_refuses_and_changes_nothing(system):
    order = OrderFactory(status=T)
    with pytest.raises(IllegalTransition, match=f"order {order.ref}: cannot go from terminated to active"):
        order_transition(actor=system, order_id=order.pk, to=A)
    order.refresh_from_db()
    assert order.status == T
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_endless_order_is_never_suspended(system):
    order = OrderFactory(expires_on=None, anchor_day=None)
    with pytest.raises(IllegalTransition, match="endless order never runs out"):
        order_transition(actor=system, order_id=order.pk, to=S)
