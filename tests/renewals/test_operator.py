"""An operator's moves of an order (renewals.operator): extend, suspend,
restore, terminate, each with a reason, through the same records as the
nightly run's; and the nightly run after each of them."""

import datetime
from decimal import Decimal

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from balances.models import Account, LedgerEntry
from core.errors import DomainError, IllegalTransition
from invoices.models import Invoice, InvoiceLine, InvoiceSequence, RenewalSource
from notifications.models import Notice
from orders.models import Order
from orders.services import order_tenure_change
from renewals.lifecycle import provisioning_run
from renewals.models import EventOrigin, HookState, LifecycleEvent, RunOutcome, SweepRun
from renewals.operator import (
    extension_period,
    order_extend,
    order_restore,
    order_suspend,
    order_terminate,
)
from renewals.writer import RenewalConflict
from tests.renewals.conftest import order

D = datetime.date
CALLS = []


def recording_hook(event):
    CALLS.append((event.order.ref, event.transition, event.origin))


@pytest.fixture(autouse=True)
def _hooks(settings):
    CALLS.clear()
    settings.PROVISIONING_HOOK = "tests.renewals.test_operator.recording_hook"


@pytest.fixture
def admin_actor():
    from tenants.scope import Actor, ActorKind

    return Actor(kind=ActorKind.PLATFORM, label="ops")


@pytest.fixture
def o1(portal):
    """o1: Basic, 1 month at 10.00, paid thru 2026-12-10, of c1 (balance 100.00)."""
    portal([order("o1", D(2026, 12, 10), auto_renew=False)])
    return Order.objects.get(ref="o1")


def nights(*dates):
    for on in dates:
        call_command("run_renewals", "--date", on.isoformat(), verbosity=0)
    runs = SweepRun.objects.filter(business_date__in=dates, dry_run=False)
    assert sorted(runs.values_list("business_date", "outcome")) == [(on, RunOutcome.COMPLETED) for on in dates]


def notices(ref="o1"):
    return sorted((n.kind, n.subject_key.split(":")[0], n.cycle) for n in Notice.objects.all() if ref in n.order_refs)


def events(order_id):
    return sorted(
        LifecycleEvent.objects.filter(order_id=order_id).values_list("transition", "origin", "cycle"),
        key=lambda e: (e[2], e[0], e[1]),
    )


# --- the extension's period -------------------------------------------------


@pytest.mark.parametrize(
    ("expires_on", "anchor", "until", "months", "new_anchor"),
    [
        (D(2026, 12, 10), 10, D(2027, 1, 10), 1, 10),
        (D(2026, 12, 10), 10, D(2026, 12, 25), 0, 25),
        (D(2027, 1, 31), 31, D(2027, 2, 28), 1, 31),  # the month's last day keeps the anchor
        (D(2027, 1, 31), 31, D(2027, 3, 15), 1, 15),
        (D(2026, 12, 10), 10, D(2027, 12, 10), 12, 10),
    ],
)
def test_extension_period(expires_on, anchor, until, months, new_anchor):
    period = extension_period(expires_on, anchor, until, "USD")
    assert (period.start, period.end, period.months, period.anchor_day, period.amount) == (
        expires_on,
        until,
        months,
        new_anchor,
        Decimal("0.00"),
    )


# --- extend -------------------------------------------------------------------


def test_extend_is_a_complimentary_renewal_of_the_cycle(o1, admin_actor, assert_invariants):
    invoice = order_extend(
        actor=admin_actor, order_id=o1.pk, until=D(2027, 1, 20), reason="outage credit", on=D(2026, 12, 1)
    )
    o1.refresh_from_db()
    assert (o1.expires_on, o1.anchor_day, o1.status) == (D(2027, 1, 20), 20, "active")
    assert (invoice.source, invoice.total, invoice.business_date) == (
        RenewalSource.COMPLIMENTARY,
        Decimal("0.00"),
        D(2026, 12, 1),
    )
    assert invoice.number.endswith("-2026-000001")  # numbered like any invoice, gapless
    line = InvoiceLine.objects.get(order=o1)
    assert (line.period_start, line.period_end, line.months, line.amount, line.complimentary) == (
        D(2026, 12, 10),
        D(2027, 1, 20),
        1,
        Decimal("0.00"),
        True,
    )
    # Told it was renewed, not charged; no money moved.
    assert notices() == [("renewal_completed", "invoice", "2026-12-01")]
    assert LedgerEntry.objects.filter(kind="renewal").count() == 0
    assert Account.objects.get().balance == Decimal("100.00")
    audit = AuditEvent.objects.get(action="order.extend")
    assert (audit.actor_label, audit.before, audit.after, audit.reason) == (
        "ops",
        "2026-12-10",
        "2027-01-20",
        "outage credit",
    )
    assert_invariants()


@pytest.mark.parametrize(
    ("until", "reason", "message"),
    [
        (D(2026, 12, 10), "x", "pick a later date than that"),
        (D(2026, 12, 1), "x", "pick a later date than that"),
        (D(2027, 1, 10), "  ", "give a reason"),
    ],
)
def test_extend_refuses_a_date_not_after_the_paid_thru_date_or_no_reason(o1, admin_actor, until, reason, message):
    with pytest.raises(DomainError, match=message):
        order_extend(actor=admin_actor, order_id=o1.pk, until=until, reason=reason, on=D(2026, 12, 1))
    assert InvoiceLine.objects.count() == 0


def test_a_second_extension_of_the_same_cycle_is_refused_by_the_database(o1, admin_actor, monkeypatch):
    order_extend(actor=admin_actor, order_id=o1.pk, until=D(2027, 1, 10), reason="credit", on=D(2026, 12, 1))
    # Bad data: the paid-thru date set back by hand to the cycle just renewed.
    Order.objects.filter(pk=o1.pk).update(expires_on=D(2026, 12, 10))
    with pytest.raises(DomainError, match="its cycle 2026-12-10 was renewed already"):
        order_extend(actor=admin_actor, order_id=o1.pk, until=D(2027, 2, 10), reason="again", on=D(2026, 12, 2))
    # Without the service's own check, the database's unique (order, cycle) refuses it.
    monkeypatch.setattr("renewals.operator.InvoiceLine.objects.filter", lambda **kw: InvoiceLine.objects.none())
    with pytest.raises(RenewalConflict):
        order_extend(actor=admin_actor, order_id=o1.pk, until=D(2027, 2, 10), reason="again", on=D(2026, 12, 2))
    assert Invoice.objects.count() == 1
    assert InvoiceSequence.objects.get().last_number == 1  # no number burnt


def test_extend_refuses_a_terminated_order(o1, admin_actor):
    Order.objects.filter(pk=o1.pk).update(status="terminated")
    with pytest.raises(IllegalTransition):
        order_extend(actor=admin_actor, order_id=o1.pk, until=D(2027, 1, 10), reason="x", on=D(2026, 12, 1))


def test_extend_then_three_nights(portal, admin_actor):
    """Extended before its window's last night, the order is not renewed,
    charged or suspended by the nights that follow, and each record is once."""
    portal([order("o1", D(2026, 12, 10), auto_renew=True)])
    o1 = Order.objects.get(ref="o1")
    order_extend(actor=admin_actor, order_id=o1.pk, until=D(2027, 1, 10), reason="goodwill", on=D(2026, 12, 9))
    nights(D(2026, 12, 9), D(2026, 12, 10), D(2026, 12, 11))
    o1.refresh_from_db()
    assert (o1.expires_on, o1.status) == (D(2027, 1, 10), "active")
    assert InvoiceLine.objects.filter(order=o1).count() == 1
    assert Account.objects.get().balance == Decimal("100.00")
    assert notices() == [("renewal_completed", "invoice", "2026-12-09")]
    assert events(o1.pk) == []


# --- suspend, restore, terminate ------------------------------------------------


def test_suspend_is_a_lifecycle_move_of_its_own(o1, admin_actor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        event = order_suspend(actor=admin_actor, order_id=o1.pk, reason="abuse report #42", on=D(2026, 12, 1))
    o1.refresh_from_db()
    assert o1.status == "suspended"
    assert (event.transition, event.origin, event.cycle, event.business_date) == (
        "suspend",
        EventOrigin.ADMIN,
        D(2026, 12, 10),
        D(2026, 12, 1),
    )
    # Its hook ran after commit.
    event.refresh_from_db()
    assert event.hook_state == HookState.DONE
    assert CALLS == [("o1", "suspend", "admin")]
    notice = Notice.objects.get()
    assert (notice.kind, notice.subject_key, notice.cycle) == ("suspended", f"event:{event.pk}", "2026-12-10")
    assert notice.data["terminate_on"] == "2026-12-26"
    audit = AuditEvent.objects.get(action="order.status")
    assert (audit.before, audit.after, audit.reason) == ("active", "suspended", "abuse report #42")


def test_restore_of_a_past_due_order_needs_an_extension(o1, admin_actor):
    nights(D(2026, 12, 11))  # suspended by the night
    with pytest.raises(DomainError, match="restore it together with an extension") as refused:
        order_restore(actor=admin_actor, order_id=o1.pk, reason="paid by phone", on=D(2026, 12, 12))
    assert refused.value.code == "extension_required"
    assert Order.objects.get(pk=o1.pk).status == "suspended"
    invoice = order_restore(
        actor=admin_actor, order_id=o1.pk, reason="paid by phone", until=D(2027, 1, 10), on=D(2026, 12, 12)
    )
    o1.refresh_from_db()
    assert (o1.status, o1.expires_on) == ("active", D(2027, 1, 10))
    assert invoice.source == RenewalSource.COMPLIMENTARY
    # Restored as a renewal during grace: its unsuspend event and hook.
    assert events(o1.pk) == [("suspend", "nightly", D(2026, 12, 10)), ("unsuspend", "renewal", D(2026, 12, 10))]


def test_restore_refuses_an_active_order(o1, admin_actor):
    with pytest.raises(IllegalTransition, match="already active"):
        order_restore(actor=admin_actor, order_id=o1.pk, reason="x", on=D(2026, 12, 1))


def test_restore_after_extend_then_three_nights(o1, admin_actor):
    nights(D(2026, 12, 11))
    order_restore(actor=admin_actor, order_id=o1.pk, reason="paid by phone", until=D(2027, 1, 10), on=D(2026, 12, 12))
    nights(D(2026, 12, 12), D(2026, 12, 13), D(2026, 12, 14))
    assert provisioning_run() == {"done": 2, "failed": 0}
    assert provisioning_run() == {"done": 0, "failed": 0}
    assert Order.objects.get(pk=o1.pk).status == "active"
    assert events(o1.pk) == [("suspend", "nightly", D(2026, 12, 10)), ("unsuspend", "renewal", D(2026, 12, 10))]
    assert sorted(CALLS) == [("o1", "suspend", "nightly"), ("o1", "unsuspend", "renewal")]
    assert notices() == [("renewal_completed", "invoice", "2026-12-12"), ("suspended", "order", "2026-12-10")]


def test_admin_suspends_restores_and_the_night_later_suspends_the_same_cycle(o1, admin_actor):
    """The wedge of issue 11: admin moves and their notices never take the
    nightly run's keys."""
    order_suspend(actor=admin_actor, order_id=o1.pk, reason="abuse report", on=D(2026, 12, 1))
    order_restore(actor=admin_actor, order_id=o1.pk, reason="resolved", on=D(2026, 12, 2))  # not past due: no extension
    nights(D(2026, 12, 10), D(2026, 12, 11), D(2026, 12, 12))
    assert Order.objects.get(pk=o1.pk).status == "suspended"
    cycle = D(2026, 12, 10)
    assert events(o1.pk) == [("suspend", "admin", cycle), ("suspend", "nightly", cycle), ("unsuspend", "admin", cycle)]
    assert notices() == [("suspended", "event", "2026-12-10"), ("suspended", "order", "2026-12-10")]
    assert provisioning_run() == {"done": 3, "failed": 0}
    assert provisioning_run() == {"done": 0, "failed": 0}
    assert CALLS == [("o1", "suspend", "admin"), ("o1", "unsuspend", "admin"), ("o1", "suspend", "nightly")]
    restore = AuditEvent.objects.get(action="order.status", after="active")
    assert (restore.before, restore.reason) == ("suspended", "resolved")


def test_terminate_then_three_nights(o1, admin_actor):
    nights(D(2026, 12, 11))
    order_terminate(actor=admin_actor, order_id=o1.pk, reason="customer asked to close", on=D(2026, 12, 12))
    # The nights around the end of its grace (terminated on 2026-12-26 by the night otherwise).
    nights(D(2026, 12, 25), D(2026, 12, 26), D(2026, 12, 27))
    assert provisioning_run() == {"done": 2, "failed": 0}
    assert provisioning_run() == {"done": 0, "failed": 0}
    assert Order.objects.get(pk=o1.pk).status == "terminated"
    cycle = D(2026, 12, 10)
    assert events(o1.pk) == [("suspend", "nightly", cycle), ("terminate", "admin", cycle)]
    assert CALLS == [("o1", "suspend", "nightly"), ("o1", "terminate", "admin")]
    assert notices() == [("suspended", "order", "2026-12-10"), ("terminated", "event", "2026-12-10")]


def test_terminate_an_active_order_only_when_asked_to_suspend_it_first(o1, admin_actor):
    with pytest.raises(IllegalTransition, match="must be suspended"):
        order_terminate(actor=admin_actor, order_id=o1.pk, reason="fraud", on=D(2026, 12, 1))
    assert Order.objects.get(pk=o1.pk).status == "active"
    order_terminate(actor=admin_actor, order_id=o1.pk, reason="fraud", suspend_first=True, on=D(2026, 12, 1))
    assert Order.objects.get(pk=o1.pk).status == "terminated"
    assert [e[:2] for e in events(o1.pk)] == [("suspend", "admin"), ("terminate", "admin")]
    assert notices() == [("terminated", "event", "2026-12-10")]  # one notice: the order is gone
    nights(D(2026, 12, 10), D(2026, 12, 11), D(2026, 12, 12))
    assert len(events(o1.pk)) == 2


def test_a_card_payment_in_flight_keeps_the_order_as_it_is(o1, admin_actor):
    from payments.models import AttemptPurpose, PaymentAttempt
    from renewals.claims import claim_orders

    attempt = PaymentAttempt.objects.create(
        account_id=o1.customer_id,
        purpose=AttemptPurpose.RENEWAL,
        amount=Decimal("10.00"),
        currency="USD",
        idempotency_key="renewal-test",
        business_date=D(2026, 12, 9),
    )
    claim_orders(attempt, [{"order_id": o1.pk}])
    for move in (
        lambda: order_suspend(actor=admin_actor, order_id=o1.pk, reason="x", on=D(2026, 12, 9)),
        lambda: order_extend(actor=admin_actor, order_id=o1.pk, until=D(2027, 1, 10), reason="x", on=D(2026, 12, 9)),
        lambda: order_terminate(actor=admin_actor, order_id=o1.pk, reason="x", suspend_first=True, on=D(2026, 12, 9)),
    ):
        with pytest.raises(DomainError, match="a card payment for its renewal is in progress"):
            move()
    o1.refresh_from_db()
    assert (o1.status, o1.expires_on) == ("active", D(2026, 12, 10))


# --- tenure ---------------------------------------------------------------------


def test_tenure_changes_only_to_a_period_the_plan_sells(o1, admin_actor):
    with pytest.raises(DomainError, match=r"no 6-month price \(it sells 1, 3, 12\)"):
        order_tenure_change(actor=admin_actor, order_id=o1.pk, months=6, reason="customer asked")
    with pytest.raises(DomainError, match="give a reason"):
        order_tenure_change(actor=admin_actor, order_id=o1.pk, months=12, reason="")
    order_tenure_change(actor=admin_actor, order_id=o1.pk, months=12, reason="customer asked")
    assert Order.objects.get(pk=o1.pk).tenure_months == 12
    audit = AuditEvent.objects.get(action="order.tenure_months")
    assert (audit.before, audit.after, audit.reason) == (1, 12, "customer asked")
