"""Django admin: an order's renewal terms (own auto-renew point, individual
price, after renewal) are read-only in its form and change through an action
with a reason, by the same service and bound as the panels and the API."""

import datetime
from decimal import Decimal

import pytest

from audit.models import AuditEvent
from orders.models import Order
from tests.admin.test_admin import act, url
from tests.admin.test_order_actions import portal, staff, viewer  # noqa: F401 - the fixtures

pytestmark = pytest.mark.django_db
D = datetime.date


def test_the_terms_change_through_the_action_with_a_reason(staff, portal):  # noqa: F811
    o1, o2 = portal["o1"], portal["o2"]
    page = staff.get(url(Order, "change", o1.pk)).content.decode()
    assert 'name="individual_price"' not in page  # read-only in the form
    form = staff.post(url(Order, "changelist"), {"action": "set_terms", "_selected_action": [o1.pk]}).content.decode()
    assert "Own auto-renew point (days)" in form
    answer = act(
        staff,
        Order,
        "set_terms",
        [o1, o2],
        lead_days="12",
        individual_price="7.50",
        after_renewal="plan",
        reason="reseller deal",
        apply="1",
    ).content.decode()
    assert "Set renewal terms: o1" in answer
    for ref in ("o1", "o2"):
        order = Order.objects.get(ref=ref)
        assert (order.lead_days, order.individual_price, order.after_renewal) == (12, Decimal("7.50"), "plan")
    event = AuditEvent.objects.get(action="order.individual_price", target_id=o1.pk)
    assert (event.actor_label, event.before, event.after, event.reason) == ("ops", None, "7.50", "reseller deal")
    # Empty fields: back to the plan's.
    act(staff, Order, "set_terms", [o1], lead_days="", individual_price="", after_renewal="keep", reason="x", apply="1")
    o1 = Order.objects.get(pk=o1.pk)
    assert (o1.lead_days, o1.individual_price, o1.after_renewal) == (None, None, "keep")


def test_the_bound_is_refused_for_the_order_it_does_not_fit(staff, portal):  # noqa: F811
    o1, o2 = portal["o1"], portal["o2"]  # 1 month and 12 months
    answer = act(
        staff, Order, "set_terms", [o1, o2], lead_days="40", after_renewal="keep", reason="early", apply="1"
    ).content.decode()
    assert "Order o1: lead_days must be shorter than the shortest tenure" in answer
    assert "at most 27, not 40" in answer
    assert (Order.objects.get(pk=o1.pk).lead_days, Order.objects.get(pk=o2.pk).lead_days) == (None, 40)
    # Without a reason nothing is applied.
    act(staff, Order, "set_terms", [o1], lead_days="3", after_renewal="keep", reason="", apply="1")
    assert Order.objects.get(pk=o1.pk).lead_days is None


def test_staff_who_may_only_view_get_403(viewer, portal):  # noqa: F811
    answer = act(viewer, Order, "set_terms", [portal["o1"]], lead_days="3", after_renewal="keep", reason="x", apply="1")
    assert answer.status_code == 403
    assert Order.objects.get(pk=portal["o1"].pk).lead_days is None
