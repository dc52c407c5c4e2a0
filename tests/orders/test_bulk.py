"""Bulk moves to manual or auto renewal (orders.bulk): the locked orders a
customer cannot switch are skipped and named, each change is audited, an id
of another tenant's refuses the whole move, the refusals are order_set_flags'
own, and the move is set-based (the same queries for 5 orders as for 300)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from core.errors import DomainError, NotFound
from orders.bulk import LOCKED_BY_RESELLER, BulkResult, orders_bulk_auto_renew
from orders.models import Order
from orders.services import order_set_flags
from tenants.scope import actor_for_user
from tests.panels.conftest import tenants  # noqa: F401 - the shared three-tenant portal

pytestmark = pytest.mark.django_db


def switches(*orders) -> list[bool]:
    return [Order.objects.get(pk=o.pk).auto_renew for o in orders]


def test_a_customer_moves_orders_to_manual_and_the_locked_one_is_skipped_and_named(tenants):  # noqa: F811
    # given o1 and o2 renewing by themselves, the reseller locked o1's switch
    o1, o2, o3 = (tenants.orders[ref] for ref in ("o1", "o2", "o3"))
    Order.objects.filter(pk=o1.pk).update(auto_renew_locked=True)
    owner = actor_for_user(tenants.users["owner"])
    # when the customer moves all three to manual renewal
    result = orders_bulk_auto_renew(actor=owner, order_ids=[o1.pk, o2.pk, o3.pk], on=False)
    # then o2 moved, o3 was already manual, o1 stays as the reseller locked it
    assert result == BulkResult(changed=1, unchanged=1, skipped=[("o1", LOCKED_BY_RESELLER)])
    assert switches(o1, o2, o3) == [True, False, False]
    audit = AuditEvent.objects.get(action="order.auto_renew")
    assert (audit.target_ref, audit.before, audit.after, audit.actor_label) == ("o2", True, False, "owner")
    assert audit.address is None or audit.address  # the request's, when there is one


def test_the_reseller_moves_an_order_it_locked(tenants):  # noqa: F811
    o1 = tenants.orders["o1"]
    Order.objects.filter(pk=o1.pk).update(auto_renew_locked=True)
    result = orders_bulk_auto_renew(actor=actor_for_user(tenants.users["acme"]), order_ids=[o1.pk], on=False)
    assert result == BulkResult(changed=1)
    assert switches(o1) == [False]


def test_another_tenants_order_refuses_the_whole_move_and_changes_nothing(tenants):  # noqa: F811
    o1, o4, o9 = (tenants.orders[ref] for ref in ("o1", "o4", "o9"))
    # each login with one order of its own (or none) and one of another tenant's
    cases = [("owner", [o1, o9]), ("owner", [o1, o4]), ("outsider", [o9, o1]), ("west", [o4, o1]), ("other", [o9, o4])]
    for user, orders in cases:
        with pytest.raises(NotFound):
            orders_bulk_auto_renew(
                actor=actor_for_user(tenants.users[user]), order_ids=[o.pk for o in orders], on=False
            )
        assert switches(o1, o4, o9) == [True, True, True], user
    assert not AuditEvent.objects.filter(action="order.auto_renew").exists()


def test_a_colleague_moves_the_accounts_orders(tenants):  # noqa: F811
    o1, o2 = tenants.orders["o1"], tenants.orders["o2"]
    result = orders_bulk_auto_renew(
        actor=actor_for_user(tenants.users["colleague"]), order_ids=[o1.pk, o2.pk], on=False
    )
    assert result.changed == 2


def test_nothing_to_move_is_an_empty_result(tenants):  # noqa: F811
    assert orders_bulk_auto_renew(actor=actor_for_user(tenants.users["owner"]), order_ids=[], on=True) == BulkResult()


@pytest.mark.parametrize("user", ["owner", "acme"])
@pytest.mark.parametrize("locked", [False, True])
@pytest.mark.parametrize("status", ["active", "suspended", "terminated"])
@pytest.mark.parametrize("do_not_renew", [False, True])
@pytest.mark.parametrize("on", [False, True])
def test_it_refuses_what_order_set_flags_refuses(tenants, user, locked, status, do_not_renew, on):  # noqa: F811
    """The bulk move's rule and the one-order service's agree on every case."""
    o1 = tenants.orders["o1"]
    Order.objects.filter(pk=o1.pk).update(
        auto_renew=not on, auto_renew_locked=locked, status=status, do_not_renew=do_not_renew
    )
    actor = actor_for_user(tenants.users[user])
    result = orders_bulk_auto_renew(actor=actor, order_ids=[o1.pk], on=on)
    Order.objects.filter(pk=o1.pk).update(auto_renew=not on)
    try:
        order_set_flags(actor=actor, order_id=o1.pk, auto_renew=on)
        refused = False
    except DomainError:
        refused = True
    assert bool(result.skipped) == refused
    assert result.changed == (0 if refused else 1)


def test_the_move_is_set_based(tenants):  # noqa: F811
    template = tenants.orders["o1"]

    def move(n: int) -> int:
        Order.objects.bulk_create(
            Order(ref=f"b{n}-{i}", customer=template.customer, plan=template.plan, tenure_months=1,
                  expires_on=tenants.days(10 + i % 50), auto_renew=True, auto_renew_locked=i % 7 == 0)
            for i in range(n)
        )  # fmt: skip
        ids = list(Order.objects.filter(ref__startswith=f"b{n}-").values_list("pk", flat=True))
        with CaptureQueriesContext(connection) as queries:
            result = orders_bulk_auto_renew(actor=actor_for_user(tenants.users["owner"]), order_ids=ids, on=False)
        assert result.changed + len(result.skipped) == n
        return len(queries)

    # the locking read, the UPDATE, the audit rows (a savepoint around them)
    assert move(5) == move(300)
    assert AuditEvent.objects.filter(action="order.auto_renew").count() == 5 - 1 + 300 - 43
