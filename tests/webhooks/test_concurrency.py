"""Two delivery workers at once, on PostgreSQL with real connections: each
delivery is claimed by one of them (SKIP LOCKED and the lease), so the
receiver gets each event once."""

import datetime

import pytest

from tenants.models import Customer
from tests.helpers import run_concurrently
from tests.webhooks.conftest import endpoint_for, order
from webhooks.delivery import deliver_due
from webhooks.models import Delivery, DeliveryState
from webhooks.services import EventSpec, events_emit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_workers_never_send_one_delivery_twice(portal, receiver):
    portal([order("o1", datetime.date(2026, 12, 20))])
    endpoint_for("r1", receiver.url)
    c1 = Customer.objects.get(ref="c1")
    events_emit([EventSpec("order.renewed", f"k{n}", c1.reseller_id, c1.pk, {"n": n}) for n in range(24)])

    results = run_concurrently([lambda: deliver_due(limit=3), lambda: deliver_due(limit=3)])

    assert sum(r["delivered"] for r in results) == 24, results
    ids = [r.json["id"] for r in receiver.received]
    assert len(ids) == len(set(ids)) == 24
    assert set(Delivery.objects.values_list("state", flat=True)) == {DeliveryState.DELIVERED}
