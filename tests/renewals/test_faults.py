"""One account, order, notice or hook that fails never stops the nightly work
for the others (SPEC "Faults and bad data"): a fault injected into one item,
and real bad data, leave every other item done that night."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import PlanPrice
from core.models import Fault, Stage
from invoices.models import InvoiceLine
from notifications.delivery import deliver_pending
from notifications.models import DeliveryState, Notice
from orders.models import Order
from renewals.bench import statements_counted
from renewals.facts import held_orders, load_catalog
from renewals.lifecycle import provisioning_run
from renewals.models import HookState, LifecycleEvent, SweepRun
from renewals.sweep import batches as batches_module
from renewals.sweep.execute import sweep_accounts
from tenants.models import Customer
from tenants.scope import Actor
from tests.panels.conftest import tenants  # noqa: F401 - the three-tenant portal with logins
from tests.renewals.conftest import order

D = datetime.date
ON = D(2026, 12, 5)
OPS = "ops@portal.test"
FAILURE_KINDS = {"renewal_failed", "renewal_last_chance", "reseller_failure"}


def customers(count: int = 5) -> list[dict]:
    return [
        {"ref": f"c{n}", "name": f"Customer {n}", "email": f"c{n}@x.test", "reseller": "r1", "balance": "100.00"}
        for n in range(1, count + 1)
    ]


@pytest.fixture(autouse=True)
def _operators(settings):
    settings.ADMINS = [("Ops", OPS)]


def alerts(mailoutbox) -> list:
    return [m for m in mailoutbox if m.to == [OPS]]


def expires(ref: str) -> datetime.date:
    return Order.objects.get(ref=ref).expires_on


def batches(report) -> dict:
    return {b["customer"]: (b["outcome"], b["reason"]) for b in report["batches"]}


def break_account(monkeypatch, ref: str) -> None:
    """A test double: planning the batch of account ``ref`` raises, only it."""
    real = batches_module.plan_account

    def plan_account(account, *args, **kwargs):
        if account.ref == ref:
            raise RuntimeError(f"injected fault for {ref}")
        return real(account, *args, **kwargs)

    monkeypatch.setattr(batches_module, "plan_account", plan_account)


def failure_notices_of(ref: str) -> list[str]:
    return list(Notice.objects.filter(customer__ref=ref, kind__in=FAILURE_KINDS).values_list("kind", flat=True))


def test_a_fault_in_one_account_leaves_the_rest_of_its_batch_renewed(portal, run, monkeypatch, mailoutbox,
                                                                     assert_invariants):  # fmt: skip
    portal([order(f"o{n}", D(2026, 12, 10), customer=f"c{n}") for n in range(1, 6)], customers=customers())
    break_account(monkeypatch, "c3")
    report = run(ON)
    assert batches(report) == {
        "c1": ("renewed", None),
        "c2": ("renewed", None),
        "c3": ("failed", "internal_error"),
        "c4": ("renewed", None),
        "c5": ("renewed", None),
    }
    assert [o for o in report["orders"] if o["order"] == "o3"] == [
        {"order": "o3", "outcome": "failed", "reason": "internal_error", "amount": None, "expires_on": "2026-12-10"}
    ]
    assert [expires(f"o{n}") for n in range(1, 6)] == [D(2027, 1, 10)] * 2 + [D(2026, 12, 10)] + [D(2027, 1, 10)] * 2
    assert SweepRun.objects.get(business_date=ON).outcome == "completed"
    fault = Fault.objects.get()
    c3 = Customer.objects.get(ref="c3")
    assert (fault.stage, fault.subject, fault.customer_id, fault.orders) == (
        Stage.SWEEP, f"account:{c3.pk}", c3.pk, ["o3"]
    )  # fmt: skip
    assert fault.error == "RuntimeError: injected fault for c3"
    assert "plan_account" in fault.traceback
    assert fault.run_id == SweepRun.objects.get(business_date=ON).pk
    [mail] = alerts(mailoutbox)
    assert "customer c3 (Customer 3)" in mail.body
    assert "orders: o3" in mail.body
    assert failure_notices_of("c3") == []  # not the customer's to fix
    assert list(held_orders().values_list("ref", flat=True)) == ["o3"]

    # The next date runs, and the broken account is tried again (and alerted again: a new date).
    again = run(ON + datetime.timedelta(days=1))
    assert batches(again) == {"c3": ("failed", "internal_error")}
    assert len(alerts(mailoutbox)) == 2
    # Fixed: the next night renews it.
    monkeypatch.undo()
    fixed = run(ON + datetime.timedelta(days=2))
    assert batches(fixed) == {"c3": ("renewed", None)}
    assert expires("o3") == D(2027, 1, 10)
    assert not held_orders().exists()
    assert failure_notices_of("c3") == []
    assert_invariants()


def test_a_held_account_is_not_suspended_and_is_retried_past_expiry(portal, run, monkeypatch, assert_invariants):
    portal([order(f"o{n}", D(2026, 12, 10), customer=f"c{n}") for n in range(1, 3)], customers=customers(2))
    break_account(monkeypatch, "c2")
    run(D(2026, 12, 10))  # the last night of the window: c2 fails with internal_error
    report = run(D(2026, 12, 11))
    assert report["lifecycle"] == []  # o2 is past its paid-thru date but waits for an operator
    assert batches(report) == {"c2": ("failed", "internal_error")}  # and is tried again
    assert Order.objects.get(ref="o2").status == "active"
    monkeypatch.undo()
    report = run(D(2026, 12, 12))
    assert batches(report) == {"c2": ("renewed", None)}
    assert expires("o2") == D(2027, 1, 10)  # from the paid-thru date, as any renewal
    assert_invariants()


def test_once_the_error_is_gone_a_customers_own_failure_follows_the_lifecycle(portal, run, monkeypatch):
    portal(
        [order("o1", D(2026, 12, 10))],
        customers=[{"ref": "c1", "name": "Jane", "email": "j@x.test", "reseller": "r1", "balance": "1.00"}],
    )
    break_account(monkeypatch, "c1")
    run(D(2026, 12, 10))
    monkeypatch.undo()
    report = run(D(2026, 12, 11))
    assert batches(report) == {"c1": ("failed", "insufficient_funds")}
    assert sorted(failure_notices_of("c1")) == ["renewal_failed", "reseller_failure"]  # their first of the cycle
    assert run(D(2026, 12, 12))["lifecycle"] == [{"order": "o1", "from": "active", "to": "suspended"}]


def test_a_healthy_batch_costs_a_fixed_number_of_statements_whatever_its_size(portal):
    """The isolation adds nothing to the happy path: the statements of before
    it plus the claims looked up under the accounts' locks and the open
    renewals closed (on SQLite 23: the ledger's UPDATE reads its rows back,
    so SQLite's changes() is not asked, and the invoices' ids are taken in
    two; on PostgreSQL 22 and 6 COPY), for 3 accounts or 30. (The orders'
    own lead days are read once per catalog, before; no order here has an
    individual price, so none is read again under its lock.)"""
    portal([order(f"o{n}", D(2026, 12, 10), customer=f"c{n}") for n in range(1, 31)], customers=customers(30))
    catalog = load_catalog(held=True)
    assert catalog.own_leads == ()
    ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    counts = []
    for part in (ids[:3], ids[3:]):
        with statements_counted() as sent, CaptureQueriesContext(connection) as statements:
            sweep_accounts(part, on=ON, catalog=catalog, actor=Actor.system(), run=None)
        counts.append((len(statements), sent.copied.value))
    expected = (22, 6) if connection.vendor == "postgresql" else (23, 0)
    assert counts == [expected, expected]
    assert InvoiceLine.objects.count() == 30


def test_a_paid_thru_date_set_back_by_hand_fails_only_that_account(portal, run, mailoutbox, assert_invariants):
    orders = [order(f"o{n}", D(2026, 12, 10), customer=f"c{n}") for n in range(1, 6)]
    orders += [order(f"p{n}", D(2026, 12, 17), customer=f"c{n}") for n in range(1, 6)]
    portal(orders, customers=[{**c, "balance": "500.00"} for c in customers()])
    run(ON)  # renews o1..o5 to 2027-01-10
    # Set back by hand in the database (the admin and the importer refuse it):
    # the cycle 2026-12-10 of o3 has been renewed already.
    Order.objects.filter(ref="o3").update(expires_on=D(2026, 12, 10))
    report = run(D(2026, 12, 10))  # p1..p5 are due, and o3 again
    assert batches(report) == {
        "c1": ("renewed", None),
        "c2": ("renewed", None),
        "c3": ("failed", "internal_error"),
        "c4": ("renewed", None),
        "c5": ("renewed", None),
    }
    # The database refused a second renewal of the cycle (each backend words it its own way).
    assert any(s in Fault.objects.get().error for s in ("renewal_once_per_order_and_cycle", "invoiceline.order_id"))
    assert len(alerts(mailoutbox)) == 1
    assert failure_notices_of("c3") == []
    # The next date runs; o3 is past its date but not suspended; c3 is retried.
    report = run(D(2026, 12, 11))
    assert (report["lifecycle"], batches(report)) == ([], {"c3": ("failed", "internal_error")})
    # An operator puts the date right: the next night renews what is due.
    Order.objects.filter(ref="o3").update(expires_on=D(2027, 1, 10))
    report = run(D(2026, 12, 12))
    assert batches(report) == {"c3": ("renewed", None)}
    assert (expires("o3"), expires("p3")) == (D(2027, 1, 10), D(2027, 1, 17))
    assert SweepRun.objects.filter(outcome="completed").count() == 4
    assert_invariants()


def test_a_deleted_price_skips_the_order_with_price_missing_and_the_night_goes_on(portal, run, assert_invariants):
    portal(
        [order(f"o{n}", D(2026, 12, 10), customer=f"c{n}", tenure=3 if n == 3 else 1) for n in range(1, 6)],
        customers=customers(),
    )
    PlanPrice.objects.filter(plan__ref="basic", months=3).delete()  # by hand: the admin refuses it
    report = run(D(2026, 12, 3))  # the window opens, and the 7-day reminder is due
    assert {o["order"]: o["reason"] for o in report["orders"]} == {
        "o1": None, "o2": None, "o3": "price_missing", "o4": None, "o5": None,
    }  # fmt: skip
    assert "c3" not in batches(report)
    reminder = Notice.objects.get(kind="renewal_reminder", customer__ref="c3")
    text = reminder.rendered().text
    assert "o3" in text
    assert not Fault.objects.exists()
    assert_invariants()


def test_one_order_whose_lifecycle_move_fails_leaves_the_others_moved(portal, run, monkeypatch):
    from renewals import lifecycle

    portal(
        [order(f"o{n}", D(2026, 12, 10), customer=f"c{n}", auto_renew=False) for n in range(1, 6)],
        customers=customers(),
    )
    real = lifecycle.move_notice

    def notice(move, on, **options):
        if move.order_ref == "o3":
            raise ValueError("injected fault for o3")
        return real(move, on, **options)

    monkeypatch.setattr(lifecycle, "move_notice", notice)
    report = run(D(2026, 12, 11))
    assert sorted(m["order"] for m in report["lifecycle"]) == ["o1", "o2", "o4", "o5"]
    assert Order.objects.get(ref="o3").status == "active"
    assert Fault.objects.get().subject == f"order:{Order.objects.get(ref='o3').pk}"
    assert SweepRun.objects.get().outcome == "completed"
    monkeypatch.undo()
    assert run(D(2026, 12, 12))["lifecycle"] == [{"order": "o3", "from": "active", "to": "suspended"}]
    assert LifecycleEvent.objects.filter(transition="suspend").count() == 5


def test_one_account_whose_reminder_fails_leaves_the_others_reminded(portal, run, monkeypatch):
    from renewals import reminders

    portal(
        [order(f"o{n}", D(2026, 12, 10), customer=f"c{n}", auto_renew=False) for n in range(1, 6)],
        customers=customers(),
    )
    real = reminders.notice_row

    def row(order_row, catalog, currency):
        if order_row.ref == "o3":
            raise KeyError("injected fault for o3")
        return real(order_row, catalog, currency)

    monkeypatch.setattr(reminders, "notice_row", row)
    run(D(2026, 12, 3))  # 7 days before expiry
    reminded = Notice.objects.filter(kind="renewal_reminder").values_list("customer__ref", flat=True)
    assert sorted(reminded) == ["c1", "c2", "c4", "c5"]
    assert Fault.objects.get().stage == Stage.SCHEDULE
    assert SweepRun.objects.get().outcome == "completed"


CALLS: list[str] = []


def hook_failing_for_o3(event):
    if event.order.ref == "o3":
        raise ConnectionError("provisioning API refused o3")
    CALLS.append(event.order.ref)


def test_one_failing_hook_leaves_the_others_run(portal, run, settings):
    settings.PROVISIONING_HOOK = "tests.renewals.test_faults.hook_failing_for_o3"
    CALLS.clear()
    portal(
        [order(f"o{n}", D(2026, 12, 10), customer=f"c{n}", auto_renew=False) for n in range(1, 6)],
        customers=customers(),
    )
    run(D(2026, 12, 11))
    provisioning_run()
    assert sorted(CALLS) == ["o1", "o2", "o4", "o5"]
    event = LifecycleEvent.objects.get(order__ref="o3")
    assert (event.hook_state, event.hook_error) == (HookState.FAILED, "provisioning API refused o3")
    assert Fault.objects.get().stage == Stage.HOOKS


def test_one_notice_that_cannot_be_rendered_leaves_the_others_sent(portal, run, monkeypatch, mailoutbox):
    portal(
        [order(f"o{n}", D(2026, 12, 10), customer=f"c{n}", auto_renew=False) for n in range(1, 6)],
        customers=customers(),
    )
    run(D(2026, 12, 11))  # five suspension notices
    real = Notice.rendered

    def rendered(self, **preloaded):
        if self.order_refs == ["o3"]:
            raise ValueError("injected fault for o3's notice")
        return real(self, **preloaded)

    monkeypatch.setattr(Notice, "rendered", rendered)
    counts = deliver_pending()
    assert (counts["sent"], counts["failed"]) == (4, 1)
    broken = Notice.objects.get(order_refs=["o3"])
    assert (broken.state, broken.next_attempt_at is not None) == (DeliveryState.FAILED, True)
    assert Fault.objects.get().stage == Stage.DELIVERY
    assert sorted(m.to[0] for m in mailoutbox if m.to != [OPS]) == ["c1@x.test", "c2@x.test", "c4@x.test", "c5@x.test"]


def test_an_order_held_past_its_grace_keeps_its_whole_grace_once_suspended(portal, run, monkeypatch):
    """Held for 20 days (hosting's grace is 15), then released by an attempt
    that fails for the customer's own reason: suspended the next night, not
    terminated with it; warned 3 days before, terminated when the grace that
    began with the suspension ends."""
    portal(
        [order("o1", D(2026, 12, 10))],
        customers=[{"ref": "c1", "name": "Jane", "email": "j@x.test", "reseller": "r1", "balance": "1.00"}],
    )
    break_account(monkeypatch, "c1")
    run(D(2026, 12, 10))
    assert run(D(2026, 12, 30))["lifecycle"] == []  # held: past its paid-thru date and its grace
    monkeypatch.undo()
    assert batches(run(D(2026, 12, 31))) == {"c1": ("failed", "insufficient_funds")}
    assert run(D(2027, 1, 1))["lifecycle"] == [{"order": "o1", "from": "active", "to": "suspended"}]
    assert Notice.objects.get(kind="suspended").data["terminate_on"] == "2027-01-16"
    run(D(2027, 1, 13))
    assert Notice.objects.filter(kind="termination_warning").count() == 1
    assert run(D(2027, 1, 15))["lifecycle"] == []
    assert run(D(2027, 1, 16))["lifecycle"] == [{"order": "o1", "from": "suspended", "to": "terminated"}]


def test_the_dry_run_predicts_the_internal_error_and_writes_nothing(portal, run, monkeypatch, snapshot_db):
    portal([order(f"o{n}", D(2026, 12, 10), customer=f"c{n}") for n in range(1, 4)], customers=customers(3))
    break_account(monkeypatch, "c2")
    before = snapshot_db()
    predicted = run(ON, dry_run=True)
    assert snapshot_db() == before  # no fault either: the real run records it
    real = run(ON)
    assert batches(predicted) == batches(real) == {
        "c1": ("renewed", None), "c2": ("failed", "internal_error"), "c3": ("renewed", None),
    }  # fmt: skip
    assert predicted["orders"] == real["orders"]
    out = io.StringIO()
    call_command("run_renewals", "--date", "2026-12-06", stdout=out)  # c2 again, the others done
    assert "1 failed (1 could not be processed: internal_error, see the faults)" in out.getvalue()


def test_the_resellers_preview_shows_an_account_it_cannot_plan(tenants, client, monkeypatch):  # noqa: F811
    break_account(monkeypatch, "c2")  # Wes Tern, a customer of the sub-reseller
    client.force_login(tenants.users["acme"])
    page = client.get(reverse("reseller-preview")).content.decode()
    assert "Wes Tern" in page
    assert "The portal could not process this renewal tonight" in page
    assert not Fault.objects.exists()
