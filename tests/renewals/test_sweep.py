import datetime
from decimal import Decimal

import pytest
from django.core.management import call_command

from balances.models import Account, EntryKind, LedgerEntry
from balances.services import ledger_post
from invoices.models import Invoice, InvoiceLine
from notifications.models import Notice
from orders.models import Order
from renewals.models import BatchAttempt, OrderOutcome, SweepRun
from tenants.scope import Actor
from tests.renewals.conftest import order

D = datetime.date
DAY = datetime.timedelta(days=1)


def balance(ref="c1"):
    return Account.objects.get(customer__ref=ref).balance


def expires(ref):
    return Order.objects.get(ref=ref).expires_on


def test_ten_orders_at_ten_with_fifty_all_fail_and_the_balance_stays(portal, run, assert_invariants):
    portal(
        [order(f"o{n}", D(2026, 12, 10)) for n in range(10)],
        customers=[{"ref": "c1", "name": "Jane", "reseller": "r1", "balance": "50.00"}],
    )
    report = run(D(2026, 12, 3))
    assert report["batches"] == [
        {
            "customer": "c1",
            "outcome": "failed",
            "reason": "insufficient_funds",
            "total": "100.00",
            "orders": sorted(f"o{n}" for n in range(10)),
        }
    ]
    assert {o["outcome"] for o in report["orders"]} == {"failed"}
    assert balance() == Decimal("50.00")
    assert not Invoice.objects.exists()
    assert Order.objects.filter(expires_on=D(2026, 12, 10)).count() == 10
    assert_invariants()


def test_a_batch_renews_with_one_invoice_one_debit_and_new_dates(portal, run, assert_invariants):
    portal(
        [order("o1", D(2026, 12, 10)), order("o2", D(2026, 12, 31), tenure=12), order("o3", D(2026, 12, 8))],
        customers=[{"ref": "c1", "name": "Jane", "reseller": "r1", "balance": "150.00"}],
    )
    report = run(D(2026, 12, 3))
    # o2 is a 12-month order: due from Dec 1; o1 and o3 from Dec 3 and Dec 1.
    assert report["batches"] == [
        {"customer": "c1", "outcome": "renewed", "reason": None, "total": "120.00", "orders": ["o1", "o2", "o3"]}
    ]
    assert report["orders"] == [
        {"order": "o1", "outcome": "renewed", "reason": None, "amount": "10.00", "expires_on": "2027-01-10"},
        {"order": "o2", "outcome": "renewed", "reason": None, "amount": "100.00", "expires_on": "2027-12-31"},
        {"order": "o3", "outcome": "renewed", "reason": None, "amount": "10.00", "expires_on": "2027-01-08"},
    ]
    invoice = Invoice.objects.get()
    assert (invoice.number, invoice.total, invoice.business_date) == (
        "R1-2026-000001",
        Decimal("120.00"),
        D(2026, 12, 3),
    )
    assert invoice.lines.count() == 3
    debit = LedgerEntry.objects.get(kind=EntryKind.RENEWAL)
    assert (debit.amount, debit.reference, debit.business_date) == (Decimal("-120.00"), invoice.number, D(2026, 12, 3))
    assert balance() == Decimal("30.00")
    assert_invariants()


def test_window_edges_in_the_sweep(portal, run):
    portal(
        [
            order("month-7", D(2026, 12, 10)),
            order("month-8", D(2026, 12, 11)),
            order("year-30", D(2027, 1, 2), tenure=12),
            order("year-31", D(2027, 1, 3), tenure=12),
            order("three-7", D(2026, 12, 10), tenure=3),
            order("three-8", D(2026, 12, 11), tenure=3),
        ],
        customers=[{"ref": "c1", "name": "Jane", "reseller": "r1", "balance": "1000.00"}],
    )
    report = run(D(2026, 12, 3))
    assert sorted(o["order"] for o in report["orders"]) == ["month-7", "three-7", "year-30"]


def test_plan_lead_days_override(portal, run):
    plans = [{"ref": "vps", "name": "VPS", "category": "hosting", "prices": {"12": "100.00"}, "lead_days": 10}]
    portal(
        [order("o10", D(2026, 12, 13), plan="vps", tenure=12), order("o11", D(2026, 12, 14), plan="vps", tenure=12)],
        plans=plans,
        customers=[{"ref": "c1", "name": "Jane", "reseller": "r1", "balance": "1000.00"}],
    )
    assert [o["order"] for o in run(D(2026, 12, 3))["orders"]] == ["o10"]


def test_skipped_orders_carry_their_reason_and_do_not_count_in_the_batch(portal, run, assert_invariants):
    portal(
        [
            order("a-ok", D(2026, 12, 10)),
            order("b-off", D(2026, 12, 10), auto_renew=False),
            order("c-dnr", D(2026, 12, 10), do_not_renew=True),
            order("d-locked", D(2026, 12, 10), locked=True),
            order("e-stopped", D(2026, 12, 10), stopped=True),
            order("f-pending", D(2026, 12, 10), pending_action=True),
            order("g-ssl", D(2026, 12, 10), plan="cert", tenure=12),
            order("h-suspended", D(2026, 12, 10), status="suspended"),
            order("i-life", None, plan="life"),
        ],
        customers=[{"ref": "c1", "name": "Jane", "reseller": "r1", "balance": "10.00"}],
    )
    report = run(D(2026, 12, 5))
    assert report["batches"] == [
        {"customer": "c1", "outcome": "renewed", "reason": None, "total": "10.00", "orders": ["a-ok"]}
    ]
    reasons = {o["order"]: (o["outcome"], o["reason"]) for o in report["orders"]}
    assert reasons == {
        "a-ok": ("renewed", None),
        "b-off": ("skipped", "order_auto_renew_off"),
        "c-dnr": ("skipped", "do_not_renew"),
        "d-locked": ("skipped", "order_locked"),
        "e-stopped": ("skipped", "order_stopped"),
        "f-pending": ("skipped", "pending_action"),
        "g-ssl": ("skipped", "category_not_supported"),
        "h-suspended": ("skipped", "order_suspended"),
    }
    assert balance() == Decimal("0.00")
    assert_invariants()


def test_reseller_account_and_plan_permissions(portal, run):
    portal(
        [
            order("o1", D(2026, 12, 10), customer="c1"),
            order("o2", D(2026, 12, 10), customer="c2"),
            order("o3", D(2026, 12, 10), customer="c3"),
            order("o4", D(2026, 12, 10), customer="c4", plan="manual"),
        ],
        resellers=[
            {"ref": "r1", "name": "Acme", "allow_auto_renew": False},
            {"ref": "r2", "name": "Acme West", "parent": "r1"},
            {"ref": "r3", "name": "Nimbus"},
        ],
        plans=[
            {"ref": "basic", "name": "Basic", "category": "hosting", "prices": {"1": "10.00"}},
            {
                "ref": "manual",
                "name": "Manual",
                "category": "hosting",
                "prices": {"1": "10.00"},
                "auto_renew_allowed": False,
            },
        ],
        customers=[
            {"ref": "c1", "name": "Sub-reseller's customer", "reseller": "r2", "balance": "50.00"},
            {"ref": "c2", "name": "Not allowed", "reseller": "r3", "balance": "50.00", "allow_auto_renew": False},
            {"ref": "c3", "name": "Master off", "reseller": "r3", "balance": "50.00", "auto_renew": False},
            {"ref": "c4", "name": "Plan forbids", "reseller": "r3", "balance": "50.00"},
        ],
    )
    reasons = {o["order"]: o["reason"] for o in run(D(2026, 12, 5))["orders"]}
    assert reasons == {
        "o1": "not_allowed_by_reseller",  # the parent's "no" covers the sub-reseller's customers
        "o2": "not_allowed_by_reseller",
        "o3": "account_auto_renew_off",
        "o4": "not_allowed_by_plan",
    }


def test_credit_limit_that_covers_and_one_that_does_not(portal, run, assert_invariants):
    portal(
        [order("o1", D(2026, 12, 10), customer="c1"), order("o2", D(2026, 12, 10), customer="c2")],
        customers=[
            {"ref": "c1", "name": "Covered", "reseller": "r1", "balance": "4.00", "credit_limit": "6.00"},
            {"ref": "c2", "name": "Short", "reseller": "r1", "balance": "4.00", "credit_limit": "5.99"},
        ],
    )
    outcomes = {b["customer"]: (b["outcome"], b["reason"]) for b in run(D(2026, 12, 5))["batches"]}
    assert outcomes == {"c1": ("renewed", None), "c2": ("failed", "insufficient_funds")}
    assert balance("c1") == Decimal("-6.00")
    assert balance("c2") == Decimal("4.00")
    assert_invariants()


def test_card_sourced_order_without_a_card_fails_the_batch(portal, run):
    portal([order("o1", D(2026, 12, 10)), order("o2", D(2026, 12, 10), payment_source="card")])
    assert run(D(2026, 12, 5))["batches"][0] | {"orders": None} == {
        "customer": "c1",
        "outcome": "failed",
        "reason": "no_usable_card",
        "total": "20.00",
        "orders": None,
    }
    assert balance() == Decimal("100.00")


def test_fails_one_night_and_succeeds_the_next_after_a_top_up(portal, run, assert_invariants):
    portal(
        [order("o1", D(2026, 12, 10)), order("o2", D(2026, 12, 10))],
        customers=[{"ref": "c1", "name": "Jane", "reseller": "r1", "balance": "15.00"}],
    )
    assert run(D(2026, 12, 3))["batches"][0]["outcome"] == "failed"
    ledger_post(actor=Actor.system("t"), account_id=Account.objects.get().pk, amount=Decimal("5.00"), kind="top_up")
    assert run(D(2026, 12, 4))["batches"][0]["outcome"] == "renewed"
    assert balance() == Decimal("0.00")
    assert expires("o1") == D(2027, 1, 10)
    assert list(BatchAttempt.objects.order_by("business_date").values_list("outcome", flat=True)) == [
        "failed",
        "renewed",
    ]
    assert_invariants()


def test_running_a_date_twice_renews_nothing_twice(portal, run, assert_invariants):
    portal([order("o1", D(2026, 12, 10))])
    first = run(D(2026, 12, 3))
    second = run(D(2026, 12, 3))
    assert first["batches"][0]["outcome"] == "renewed"
    assert second == {"date": "2026-12-03", "dry_run": False, "batches": [], "orders": [], "lifecycle": []}
    assert InvoiceLine.objects.count() == 1
    assert balance() == Decimal("90.00")
    assert_invariants()


def test_dry_run_predicts_the_real_run_and_writes_nothing(portal, run, snapshot_db):
    portal(
        [
            order("o1", D(2026, 12, 10)),
            order("o2", D(2026, 12, 10), auto_renew=False),
            order("o3", D(2026, 12, 10), customer="c2"),
            order("o4", D(2026, 11, 30)),  # expired: suspended tonight
            order("o5", D(2026, 11, 10), status="suspended"),  # grace over: terminated tonight
        ],
        customers=[
            {"ref": "c1", "name": "Jane", "reseller": "r1", "balance": "100.00"},
            {"ref": "c2", "name": "Poor", "reseller": "r1", "balance": "1.00"},
        ],
    )
    before = snapshot_db()
    dry = run(D(2026, 12, 5), dry_run=True)
    assert snapshot_db() == before
    real = run(D(2026, 12, 5))
    assert dry == real | {"dry_run": True}
    assert real["lifecycle"] == [
        {"order": "o4", "from": "active", "to": "suspended"},
        {"order": "o5", "from": "suspended", "to": "terminated"},
    ]


def test_month_ends_keep_the_anchor(portal, run, assert_invariants):
    portal([order("o1", D(2027, 1, 31))], customers=[{"ref": "c1", "name": "J", "reseller": "r1", "balance": "100.00"}])
    run(D(2027, 1, 31))
    assert expires("o1") == D(2027, 2, 28)
    run(D(2027, 2, 28))
    assert expires("o1") == D(2027, 3, 31)
    assert_invariants()


def test_lifecycle_suspends_the_day_after_and_terminates_the_day_after_grace(portal, run):
    portal([order("o1", D(2026, 12, 10), auto_renew=False)])
    assert run(D(2026, 12, 10))["lifecycle"] == []
    assert run(D(2026, 12, 11))["lifecycle"] == [{"order": "o1", "from": "active", "to": "suspended"}]
    # hosting grace is 15 days: grace ends Dec 25, terminated on Dec 26.
    assert run(D(2026, 12, 25))["lifecycle"] == []
    assert run(D(2026, 12, 26))["lifecycle"] == [{"order": "o1", "from": "suspended", "to": "terminated"}]
    assert run(D(2026, 12, 27))["lifecycle"] == []
    kinds = list(Notice.objects.order_by("pk").values_list("kind", flat=True))
    assert kinds == ["suspended", "terminated"]


def test_catch_up_after_missed_nights(portal, assert_invariants):
    from renewals.sweep.run import nightly

    portal(
        [order("o1", D(2026, 12, 10)), order("o2", D(2026, 12, 6), auto_renew=False)],
        customers=[{"ref": "c1", "name": "J", "reseller": "r1", "balance": "5.00"}],
    )
    call_command("run_renewals", "--date", "2026-12-01", verbosity=0)
    # The scheduler was down from Dec 2 to Dec 8; on Dec 9 it runs every date in order.
    reports = nightly(today=D(2026, 12, 9))
    assert [r.date for r in reports] == [f"2026-12-0{n}" for n in range(2, 10)]
    # o1 was attempted each night from Dec 3 (its window), o2 suspended on Dec 7.
    assert list(
        OrderOutcome.objects.filter(order__ref="o1").order_by("business_date").values_list("business_date", flat=True)
    ) == [D(2026, 12, n) for n in range(3, 10)]
    assert Order.objects.get(ref="o2").status == "suspended"
    assert SweepRun.objects.get(business_date=D(2026, 12, 7)).suspended == 1
    assert nightly(today=D(2026, 12, 9)) == []  # nothing left to run
    # An operator time-travelling to a later date does not stop the schedule.
    call_command("run_renewals", "--date", "2026-12-20", verbosity=0)
    assert [r.date for r in nightly(today=D(2026, 12, 11))] == ["2026-12-10", "2026-12-11"]
    assert_invariants()


def test_half_a_year_of_one_order(portal, run, assert_invariants):
    """Every night from Dec 1 to May 31 for one order: renewals, a failed
    renewal, suspension, grace, termination, and a month after it in which
    nothing more happens (182 nights: each runs the whole nightly work)."""
    portal(
        [order("o1", D(2026, 12, 10))],
        customers=[{"ref": "c1", "name": "J", "reseller": "r1", "balance": "45.00"}],
    )
    day = D(2026, 12, 1)
    while day < D(2027, 6, 1):
        call_command("run_renewals", "--date", day.isoformat(), verbosity=0)
        day += DAY
    renewals = list(InvoiceLine.objects.order_by("period_start").values_list("period_start", "period_end"))
    assert renewals == [
        (D(2026, 12, 10), D(2027, 1, 10)),
        (D(2027, 1, 10), D(2027, 2, 10)),
        (D(2027, 2, 10), D(2027, 3, 10)),
        (D(2027, 3, 10), D(2027, 4, 10)),
    ]
    o1 = Order.objects.get(ref="o1")
    assert (o1.status, o1.expires_on) == ("terminated", D(2027, 4, 10))
    assert balance() == Decimal("5.00")
    failed = OrderOutcome.objects.filter(order=o1, outcome="failed").values_list("business_date", flat=True)
    assert list(failed) == [D(2027, 4, n) for n in range(3, 11)]  # retried nightly up to the expiry date
    events = list(o1.lifecycle_events.order_by("pk").values_list("transition", "business_date"))
    assert events == [("suspend", D(2027, 4, 11)), ("terminate", D(2027, 4, 26))]
    kinds = list(Notice.objects.filter(customer__ref="c1").order_by("pk").values_list("kind", flat=True))
    assert kinds.count("renewal_succeeded") == 4
    assert kinds.count("renewal_failed") == 1
    assert kinds.count("renewal_last_chance") == 1
    assert kinds[-3:] == ["suspended", "termination_warning", "terminated"]
    warning = Notice.objects.get(kind="termination_warning")
    assert warning.business_date == D(2027, 4, 23)  # 3 days before the termination on Apr 26
    advance = Notice.objects.filter(kind="advance_notice").order_by("business_date")
    # 3 days before each first attempt (7 days before an expiry on the 10th): the
    # last day of the month before (the run starts Dec 1, after the first one).
    assert [n.business_date for n in advance] == [D(2026, 12, 31), D(2027, 1, 31), D(2027, 2, 28), D(2027, 3, 31)]
    assert_invariants()


@pytest.mark.parametrize(
    ("tz", "spring", "fall"),
    [("America/New_York", D(2027, 3, 14), D(2027, 11, 7)), ("Europe/Berlin", D(2027, 3, 28), D(2027, 10, 31))],
)
def test_business_date_around_dst_changes(portal, settings, tz, spring, fall, assert_invariants):
    """Beat fires at 02:30 platform time every night, also on the nights the
    clocks change: each night runs exactly its own local date, none skipped or
    repeated; in the repeated hour of the autumn change the second firing finds
    the date done."""
    import zoneinfo

    import time_machine

    from core.dates import business_today
    from renewals.sweep.run import nightly

    settings.TIME_ZONE = tz
    zone = zoneinfo.ZoneInfo(tz)
    portal([order("o1", spring + 3 * DAY)], customers=[{"ref": "c1", "name": "J", "reseller": "r1", "balance": "0.00"}])
    # The hour the autumn change repeats (01:30 in New York, 02:30 in Berlin).
    repeated_hour = 1 if tz == "America/New_York" else 2
    for change in (spring, fall):
        call_command("run_renewals", "--date", (change - 3 * DAY).isoformat(), verbosity=0)
        for offset in (-2, -1, 0, 1, 2):
            night = change + offset * DAY
            hour = repeated_hour if night == fall else 2
            moment = datetime.datetime(night.year, night.month, night.day, hour, 30, tzinfo=zone)
            with time_machine.travel(moment, tick=False):
                assert business_today() == night
                assert [r.date for r in nightly()] == [night.isoformat()]
            if night == fall:  # the same wall-clock time again, an hour later
                with time_machine.travel(moment.replace(fold=1), tick=False):
                    assert nightly() == []
    assert_invariants()
