"""Each event type is written by its cause, in its transaction, with the data
docs/webhooks.md documents, to the endpoints of the customer's reseller and
of those above it; a nightly batch with no subscriber costs no statement."""

import datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from invoices.models import Invoice
from orders.models import Order
from renewals.bench import statements_counted
from renewals.facts import load_catalog
from renewals.operator import order_restore, order_suspend, order_terminate
from renewals.sweep.execute import sweep_accounts
from tenants.models import Customer, Reseller
from tenants.scope import Actor
from tests.webhooks.conftest import endpoint_for, order
from webhooks.models import Delivery, Event, EventType
from webhooks.services import EventSpec, events_emit

D = datetime.date
ALL = list(EventType.values)
URL = "https://hooks.example.com/portal"
RESELLERS = [
    {"ref": "r1", "name": "Acme Hosting", "email": "billing@acme.test"},
    {"ref": "r2", "name": "Sub of Acme", "email": "sub@acme.test", "parent": "r1"},
    {"ref": "r3", "name": "Other", "email": "other@other.test"},
]


def customers(*specs):
    return [
        {"ref": ref, "name": ref.upper(), "email": f"{ref}@x.test", "reseller": reseller, "balance": balance}
        for ref, reseller, balance in specs
    ]


def events(kind=None):
    rows = Event.objects.order_by("pk")
    if kind:
        rows = rows.filter(type=kind)
    return list(rows)


def test_a_renewal_writes_order_renewed_and_invoice_created_to_its_reseller_and_those_above(portal, run):
    portal(
        [order("o1", D(2026, 12, 10), customer="c2"), order("o3", D(2026, 12, 10), customer="c3")],
        resellers=RESELLERS,
        customers=customers(("c2", "r2", "100.00"), ("c3", "r3", "100.00")),
    )
    top, sub = endpoint_for("r1", URL, ALL), endpoint_for("r2", URL + "/sub", ["order.renewed"])
    run(D(2026, 12, 5))
    invoice = Invoice.objects.get(customer__ref="c2")
    (renewed,) = events(EventType.ORDER_RENEWED)  # c3's reseller (r3) has no endpoint: nothing of it
    c2 = Customer.objects.get(ref="c2")
    o1 = Order.objects.get(ref="o1")
    assert renewed.public_id.startswith("evt_")
    assert renewed.data == {
        "order": {"id": o1.pk, "ref": "o1"},
        "customer": {"id": c2.pk, "ref": "c2"},
        "invoice": {"id": invoice.pk, "number": invoice.number},
        "description": renewed.data["description"],
        "period_start": "2026-12-10",
        "period_end": "2027-01-10",
        "months": 1,
        "amount": "10.00",
        "currency": "USD",
        "business_date": "2026-12-05",
        "source": "automatic",
        "complimentary": False,
    }
    assert renewed.data["description"]
    (created,) = events(EventType.INVOICE_CREATED)
    assert created.data["invoice"] == {"id": invoice.pk, "number": invoice.number}
    assert (created.data["total"], created.data["currency"]) == ("10.00", "USD")
    assert [line["order"]["ref"] for line in created.data["lines"]] == ["o1"]
    # r1 sees its sub-reseller's customer; r2 only what it subscribed to.
    assert sorted(Delivery.objects.values_list("endpoint_id", "event__type")) == sorted(
        [(top.pk, "order.renewed"), (top.pk, "invoice.created"), (sub.pk, "order.renewed")]
    )
    # The same night again: nothing new.
    run(D(2026, 12, 5))
    assert Event.objects.count() == 2


def test_a_failed_attempt_writes_renewal_failed_each_night(portal, run):
    portal([order("o1", D(2026, 12, 10))], customers=customers(("c1", "r1", "1.00")))
    endpoint_for("r1", URL, ["renewal.failed"])
    run(D(2026, 12, 5))
    run(D(2026, 12, 6))  # a night with no notice: the reseller still hears of it
    first, second = events(EventType.RENEWAL_FAILED)
    o1 = Order.objects.get(ref="o1")
    assert first.data == {
        "customer": {"id": first.customer_id, "ref": "c1"},
        "business_date": "2026-12-05",
        "reason": "insufficient_funds",
        "detail": "",
        "currency": "USD",
        "total": "10.00",
        "orders": [{"id": o1.pk, "ref": "o1", "expires_on": "2026-12-10", "amount": "10.00"}],
        "retry_until": "2026-12-10",
        "last_chance": False,
    }
    assert second.data["business_date"] == "2026-12-06"


def test_the_lifecycle_writes_order_suspended_then_order_terminated(portal, run):
    portal([order("o1", D(2026, 12, 10))], customers=customers(("c1", "r1", "0.00")))
    endpoint_for("r1", URL, ["order.suspended", "order.terminated"])
    run(D(2026, 12, 11))
    (suspended,) = events(EventType.ORDER_SUSPENDED)
    assert suspended.data == {
        "order": {"id": suspended.data["order"]["id"], "ref": "o1"},
        "customer": {"id": suspended.customer_id, "ref": "c1"},
        "expires_on": "2026-12-10",
        "business_date": "2026-12-11",
        "via": "lifecycle",
        "terminate_on": "2026-12-26",
    }
    run(D(2026, 12, 26))
    (terminated,) = events(EventType.ORDER_TERMINATED)
    assert (terminated.data["via"], terminated.data["expires_on"]) == ("lifecycle", "2026-12-10")


def test_a_renewal_during_grace_and_an_admins_moves_write_their_events(portal):
    portal(
        [order("o1", D(2026, 12, 10)), order("o2", D(2027, 3, 1)), order("o3", D(2027, 3, 1))],
        customers=customers(("c1", "r1", "100.00")),
    )
    endpoint_for("r1", URL, ALL)
    admin = Actor.system("admin")
    o1, o2, o3 = (Order.objects.get(ref=ref) for ref in ("o1", "o2", "o3"))
    # Suspended by an admin, then restored with an extension: a renewal during grace.
    order_suspend(actor=admin, order_id=o1.pk, reason="abuse report", on=D(2026, 12, 1))
    order_restore(actor=admin, order_id=o1.pk, reason="resolved", until=D(2027, 1, 10), on=D(2026, 12, 2))
    # Suspended and restored by an admin alone; terminated with its suspension.
    order_suspend(actor=admin, order_id=o2.pk, reason="abuse report", on=D(2026, 12, 1))
    order_restore(actor=admin, order_id=o2.pk, reason="resolved", on=D(2026, 12, 2))
    order_terminate(actor=admin, order_id=o3.pk, reason="fraud", suspend_first=True, on=D(2026, 12, 3))
    moves = [(e.type, e.data["order"]["ref"], e.data["via"]) for e in events() if e.type.startswith("order.") and
             e.type != "order.renewed"]  # fmt: skip
    assert moves == [
        ("order.suspended", "o1", "admin"),
        ("order.restored", "o1", "renewal"),
        ("order.suspended", "o2", "admin"),
        ("order.restored", "o2", "admin"),
        ("order.suspended", "o3", "admin"),
        ("order.terminated", "o3", "admin"),
    ]
    restored = events(EventType.ORDER_RESTORED)[0]
    assert restored.data["expires_on"] == "2027-01-10"
    assert events(EventType.ORDER_RENEWED)[0].data["complimentary"] is True


def test_the_advance_notice_of_a_short_balance_writes_balance_low(portal, run):
    portal(
        [order("o1", D(2026, 12, 10)), order("o2", D(2026, 12, 10), customer="c2")],
        customers=customers(("c1", "r1", "4.00"), ("c2", "r1", "50.00")),
    )
    endpoint_for("r1", URL, ["balance.low"])
    run(D(2026, 11, 30))
    (low,) = events(EventType.BALANCE_LOW)  # c2 can pay: no event
    assert low.data == {
        "customer": {"id": low.customer_id, "ref": "c1"},
        "attempt_on": "2026-12-03",
        "currency": "USD",
        "total": "10.00",
        "available": "4.00",
        "short": "6.00",
        "orders": [{"id": Order.objects.get(ref="o1").pk, "ref": "o1", "expires_on": "2026-12-10"}],
    }


def test_events_are_written_in_their_causes_transaction(portal):
    portal([order("o1", D(2027, 3, 1))], customers=customers(("c1", "r1", "100.00")))
    endpoint_for("r1", URL, ALL)
    o1 = Order.objects.get(ref="o1")
    written = []

    def suspend_then_fail():
        with transaction.atomic():
            order_suspend(actor=Actor.system("admin"), order_id=o1.pk, reason="abuse", on=D(2026, 12, 1))
            written.append(Event.objects.count())
            raise RuntimeError("the cause rolls back")

    with pytest.raises(RuntimeError, match="rolls back"):
        suspend_then_fail()
    assert written == [1]
    assert (Event.objects.count(), Delivery.objects.count()) == (0, 0)
    assert Order.objects.get(ref="o1").status == "active"


def test_an_event_is_written_once_per_type_and_key(portal):
    portal([order("o1", D(2027, 3, 1))], customers=customers(("c1", "r1", "100.00")))
    endpoint_for("r1", URL, ALL)
    c1 = Customer.objects.get(ref="c1")
    spec = EventSpec("renewal.failed", "account:1:2026-12-01", c1.reseller_id, c1.pk, {"n": 1})
    assert events_emit([spec]) == 1
    events_emit([spec])
    assert (Event.objects.count(), Delivery.objects.count()) == (1, 1)
    with pytest.raises(ValueError, match="unknown webhook event type"):
        events_emit([EventSpec("order.exploded", "k", c1.reseller_id, c1.pk, {})])


def _batch_statements(portal, endpoint_reseller=None):
    refs = [f"c{n}" for n in range(1, 11)]
    portal(
        [order(f"o{n}", D(2026, 12, 10), customer=f"c{n}") for n in range(1, 11)],
        resellers=RESELLERS,
        customers=customers(*[(ref, "r2", "100.00") for ref in refs]),
    )
    if endpoint_reseller:
        endpoint_for(endpoint_reseller, URL, ALL)
    catalog = load_catalog(held=True)
    assert catalog.own_leads == ()  # read once per catalog, before the batches (as in test_faults)
    ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    counts = []
    for part in (ids[:3], ids[3:]):
        with statements_counted(), CaptureQueriesContext(connection) as statements:
            sweep_accounts(part, on=D(2026, 12, 5), catalog=catalog, actor=Actor.system(), run=None)
        counts.append(len(statements))
    return counts


@pytest.mark.django_db
def test_a_sweep_batch_whose_resellers_have_no_endpoint_costs_no_statement(portal):
    # Another reseller's endpoint (r3: not above r2) changes nothing.
    counts = _batch_statements(portal, endpoint_reseller="r3")
    expected = 22 if connection.vendor == "postgresql" else 23
    assert counts == [expected, expected]
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_a_sweep_batch_with_a_subscriber_costs_two_statements_more(portal):
    counts = _batch_statements(portal, endpoint_reseller="r1")  # above r2
    expected = (22 if connection.vendor == "postgresql" else 23) + 2
    assert counts == [expected, expected]
    assert Event.objects.count() == 20  # order.renewed and invoice.created of each account
    assert Delivery.objects.count() == 20
    assert Reseller.objects.get(ref="r1").webhook_endpoints.count() == 1
