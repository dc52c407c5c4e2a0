import pytest

from audit.models import AuditEvent
from core.errors import DomainError
from orders.services import order_set_flags
from tenants.scope import Actor, ActorKind
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


def customer_actor(order):
    return Actor(kind=ActorKind.CUSTOMER, label="jane", customer_id=order.customer_id)


def reseller_actor(order):
    reseller = order.customer.reseller
    return Actor(kind=ActorKind.RESELLER, label="acme", reseller_id=reseller.pk, reseller_path=reseller.path)


def test_customer_switches_auto_renew_and_it_is_audited():
    order = OrderFactory(auto_renew=False)
    assert order_set_flags(actor=customer_actor(order), order_id=order.pk, auto_renew=True) == ["auto_renew"]
    order.refresh_from_db()
    assert order.auto_renew is True
    event = AuditEvent.objects.get(action="order.auto_renew")
    assert (event.before, event.after, event.actor_label) == (False, True, "jane")


def test_no_change_writes_nothing():
    order = OrderFactory(auto_renew=True)
    assert order_set_flags(actor=customer_actor(order), order_id=order.pk, auto_renew=True) == []
    assert not AuditEvent.objects.exists()


def test_customer_cannot_flip_a_switch_the_reseller_locked():
    order = OrderFactory(auto_renew=True, auto_renew_locked=True)
    with pytest.raises(DomainError, match="your reseller locked the auto-renew switch") as exc:
        order_set_flags(actor=customer_actor(order), order_id=order.pk, auto_renew=False)
    assert exc.value.code == "auto_renew_locked"
    order.refresh_from_db()
    assert order.auto_renew is True


@pytest.mark.parametrize(("before", "after"), [(False, True), (True, False)])
def test_customer_can_neither_set_nor_clear_do_not_renew_of_a_locked_order(before, after):
    order = OrderFactory(auto_renew=True, auto_renew_locked=True, do_not_renew=before, payment_source="balance")
    with pytest.raises(DomainError, match="your reseller locked its renewal") as exc:
        # With another change in the same request: a refusal changes nothing.
        order_set_flags(actor=customer_actor(order), order_id=order.pk, payment_source="card", do_not_renew=after)
    assert exc.value.code == "auto_renew_locked"
    order.refresh_from_db()
    assert (order.do_not_renew, order.payment_source) == (before, "balance")
    assert not AuditEvent.objects.exists()


def test_the_reseller_and_an_admin_still_change_a_locked_orders_renewal(system):
    order = OrderFactory(auto_renew=True, auto_renew_locked=True)
    admin = Actor(kind=ActorKind.PLATFORM, label="ops")
    for actor in (reseller_actor(order), admin):
        order_set_flags(actor=actor, order_id=order.pk, do_not_renew=True, auto_renew=False)
        order.refresh_from_db()
        assert (order.do_not_renew, order.auto_renew, order.auto_renew_locked) == (True, False, True)
        order_set_flags(actor=actor, order_id=order.pk, do_not_renew=False, auto_renew=True)
        order.refresh_from_db()
        assert (order.do_not_renew, order.auto_renew) == (False, True)
    assert AuditEvent.objects.filter(action="order.do_not_renew").count() == 4


def test_reseller_locks_and_may_still_flip():
    order = OrderFactory(auto_renew=True)
    actor = reseller_actor(order)
    order_set_flags(actor=actor, order_id=order.pk, auto_renew_locked=True)
    order_set_flags(actor=actor, order_id=order.pk, auto_renew=False)
    order.refresh_from_db()
    assert (order.auto_renew_locked, order.auto_renew) == (True, False)


@pytest.mark.parametrize("field", ["locked", "pending_action", "auto_renew_locked"])
def test_customer_may_not_touch_provider_or_reseller_fields(field):
    order = OrderFactory()
    with pytest.raises(DomainError, match=f"you may not change {field}"):
        order_set_flags(actor=customer_actor(order), order_id=order.pk, **{field: True})


def test_reseller_may_not_set_the_provider_lock():
    order = OrderFactory()
    with pytest.raises(DomainError, match="you may not change locked"):
        order_set_flags(actor=reseller_actor(order), order_id=order.pk, locked=True)


def test_payment_source_must_be_known(system):
    order = OrderFactory()
    with pytest.raises(DomainError, match="payment source must be one of balance, card"):
        order_set_flags(actor=system, order_id=order.pk, payment_source="paypal")
