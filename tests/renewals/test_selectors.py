import datetime

import pytest

from core.errors import NotFound
from orders.models import Order
from renewals.selectors import order_renewal_outlook
from tenants.models import Customer
from tenants.scope import Actor, ActorKind
from tests.renewals.conftest import order

D = datetime.date


def actor_of(ref):
    return Actor(kind=ActorKind.CUSTOMER, label=ref, customer_id=Customer.objects.get(ref=ref).pk)


@pytest.fixture
def orders(portal):
    portal(
        [
            order("o1", D(2026, 12, 10)),
            order("o2", D(2026, 12, 10), locked=True),
            order("x1", D(2026, 12, 10), customer="c2"),
        ],
        customers=[
            {"ref": "c1", "name": "Jane", "reseller": "r1", "balance": "100.00"},
            {"ref": "c2", "name": "Other", "reseller": "r1"},
        ],
    )


def test_why_wont_this_renew_in_plain_words(orders):
    fine = order_renewal_outlook(actor=actor_of("c1"), order_id=Order.objects.get(ref="o1").pk, on=D(2026, 11, 25))
    assert fine.reason is None
    assert fine.sentence == "It renews automatically: the first attempt is on 2026-12-03."
    locked = order_renewal_outlook(actor=actor_of("c1"), order_id=Order.objects.get(ref="o2").pk, on=D(2026, 11, 25))
    assert (locked.reason, locked.sentence, locked.what_to_do) == (
        "order_locked",
        "The order is locked by the provider.",
        "Contact support to have the lock lifted.",
    )


def test_an_outsider_gets_not_found(orders):
    with pytest.raises(NotFound):
        order_renewal_outlook(actor=actor_of("c1"), order_id=Order.objects.get(ref="x1").pk)
