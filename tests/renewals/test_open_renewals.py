"""Open renewals (renewals.open, SPEC "Open renewals"): opened the night an
order's window opens whatever its switch, once per cycle, priced by the quote
path; closed by any renewal of the cycle, with its invoice; cancelled at
termination and do-not-renew.

The portal (tests/renewals/conftest.py): c1 of r1; Basic sells 1 month at
10.00, 3 at 27.00, 12 at 100.00 (lead 7 days up to 3 months, else 30)."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command

from catalog.models import PlanPrice
from interchange.importer import portal_import
from notifications.models import Notice
from orders.models import Order
from orders.services import order_set_flags, order_tenure_change
from renewals.facts import load_catalog
from renewals.manual import renewal_pay, renewal_quote
from renewals.models import BatchAttempt, OpenRenewal, OpenRenewalStatus
from renewals.open import open_renewals_of, open_renewals_sync
from renewals.operator import order_extend, order_terminate
from tenants.models import Customer
from tenants.scope import Actor, ActorKind, actor_for_user
from tests.factories import member
from tests.renewals.conftest import order, portal_document

D = datetime.date
OPEN, CLOSED, CANCELLED = OpenRenewalStatus.OPEN, OpenRenewalStatus.CLOSED, OpenRenewalStatus.CANCELLED
EMPTY = [{"ref": "c1", "name": "Jane Doe", "email": "jane@example.test", "reseller": "r1", "balance": "0.00"}]


def nights(*dates):
    for on in dates:
        call_command("run_renewals", "--date", on.isoformat(), verbosity=0)


def opened(ref=None) -> list[tuple]:
    """(order ref, cycle, status) of the open renewals (of one order)."""
    rows = OpenRenewal.objects.order_by("order__ref", "cycle")
    if ref:
        rows = rows.filter(order__ref=ref)
    return list(rows.values_list("order__ref", "cycle", "status"))


def the(ref) -> OpenRenewal:
    return OpenRenewal.objects.get(order__ref=ref)


@pytest.fixture
def platform():
    return Actor(kind=ActorKind.PLATFORM, label="ops")


@pytest.mark.django_db
def test_opened_the_night_the_window_opens_whatever_the_switch_once_per_cycle(portal):
    # Given an auto-renewing and a manual monthly order paid thru Dec 10 (window
    # opens Dec 3), a yearly one paid thru Jan 9 (opens Dec 10), no funds
    portal(
        [
            order("auto", D(2026, 12, 10)),
            order("manual", D(2026, 12, 10), auto_renew=False),
            order("yearly", D(2027, 1, 9), tenure=12),
        ],
        customers=EMPTY,
    )
    # When the nights run up to the day before the window: none
    nights(D(2026, 12, 1), D(2026, 12, 2))
    assert opened() == []
    # Then on Dec 3 both monthly orders have one (the sweep failed "auto": no funds),
    # and running the night again, or the next night, opens no second one
    nights(D(2026, 12, 3), D(2026, 12, 3), D(2026, 12, 4))
    assert opened() == [("auto", D(2026, 12, 10), OPEN), ("manual", D(2026, 12, 10), OPEN)]
    row = the("manual")
    assert (row.months, row.amount, row.currency, row.pay_by, row.created_on) == (
        1,
        Decimal("10.00"),
        "USD",
        D(2026, 12, 10),
        D(2026, 12, 3),
    )
    assert (row.customer.ref, row.closed_on, row.invoice) == ("c1", None, None)
    # And the yearly order's opens 30 days before its paid-thru date
    nights(D(2026, 12, 10))
    assert opened("yearly") == [("yearly", D(2027, 1, 9), OPEN)]
    assert the("yearly").amount == Decimal("100.00")


@pytest.mark.django_db
def test_the_amount_is_the_quote_of_the_orders_tenure(portal, system):
    # Given a quarterly order and a monthly one whose plan later changed price
    portal([order("q", D(2026, 12, 10), tenure=3), order("m", D(2026, 12, 10))], customers=EMPTY)
    # When its window opens
    nights(D(2026, 12, 3))
    # Then each open renewal says what the quote for its tenure says
    for ref in ("q", "m"):
        o = Order.objects.get(ref=ref)
        quote = renewal_quote(actor=system, items=[(o.pk, o.tenure_months)])
        assert (the(ref).months, the(ref).amount) == (quote.lines[0].period.months, quote.lines[0].amount)
    assert the("q").amount == Decimal("27.00")


@pytest.mark.django_db
def test_none_for_do_not_renew_terminated_endless_or_unpriced_orders(portal):
    portal(
        [
            order("dnr", D(2026, 12, 10), do_not_renew=True),
            order("gone", D(2026, 12, 8), status="terminated"),
            order("endless", None, plan="life"),
            order("unpriced", D(2026, 12, 10), tenure=3),  # Basic stops selling 3 months below
            order("fine", D(2026, 12, 10), auto_renew=False),
        ],
        customers=EMPTY,
    )
    PlanPrice.objects.filter(plan__ref="basic", months=3).delete()
    nights(D(2026, 12, 3))
    assert [ref for ref, _cycle, _status in opened()] == ["fine"]


@pytest.mark.django_db
def test_paid_by_hand_in_a_batch_both_close_with_the_invoice(portal, system):
    # Given two manual orders whose renewals are open
    portal(
        [order("a", D(2026, 12, 10), auto_renew=False), order("b", D(2026, 12, 12), auto_renew=False)],
    )
    nights(D(2026, 12, 5))
    assert [status for _r, _c, status in opened()] == [OPEN, OPEN]
    a, b = Order.objects.get(ref="a"), Order.objects.get(ref="b")
    # When the customer pays both in one step (one quote, one payment)
    quote = renewal_quote(actor=system, items=[(a.pk, 1), (b.pk, 1)])
    invoice = renewal_pay(actor=system, quote=quote, on=D(2026, 12, 6))
    # Then both are closed with that invoice, on that day
    for ref in ("a", "b"):
        row = the(ref)
        assert (row.status, row.invoice_id, row.closed_on) == (CLOSED, invoice.pk, D(2026, 12, 6))
    # And the next nights open none for the new cycles until their windows open
    nights(D(2026, 12, 7))
    assert len(opened()) == 2
    nights(D(2027, 1, 3))
    assert opened("a")[-1] == ("a", D(2027, 1, 10), OPEN)


@pytest.mark.django_db
def test_the_night_its_window_opens_the_sweep_pays_the_auto_one_and_the_manual_one_waits(portal, assert_invariants):
    # Given an auto-renewing order with funds and a manual one
    portal([order("auto", D(2026, 12, 10)), order("manual", D(2026, 12, 10), auto_renew=False)])
    # When the night its window opens runs
    nights(D(2026, 12, 3))
    # Then the sweep renewed the auto-renewing one: its open renewal is there, closed with the invoice
    assert Order.objects.get(ref="auto").expires_on == D(2027, 1, 10)
    auto = the("auto")
    assert (auto.cycle, auto.status, auto.closed_on) == (D(2026, 12, 10), CLOSED, D(2026, 12, 3))
    assert auto.invoice_id == BatchAttempt.objects.get(customer__ref="c1", business_date=D(2026, 12, 3)).invoice_id
    # And the manual one waits
    assert opened("manual") == [("manual", D(2026, 12, 10), OPEN)]
    assert_invariants()


@pytest.mark.django_db
def test_closed_by_the_sweep_that_renews_the_order(portal):
    # Given an auto-renewing order whose first attempt fails (no funds): it waits
    portal([order("auto", D(2026, 12, 10))], customers=EMPTY)
    nights(D(2026, 12, 3))
    assert the("auto").status == OPEN
    # When the customer tops up and the next night's sweep renews it
    portal([order("auto", D(2026, 12, 10))])  # the import's balance 100.00 (an adjustment entry)
    nights(D(2026, 12, 4))
    # Then it is closed with the sweep's invoice, that night
    attempt = BatchAttempt.objects.get(customer__ref="c1", business_date=D(2026, 12, 4))
    assert attempt.invoice_id is not None
    row = the("auto")
    assert (row.status, row.invoice_id, row.closed_on) == (CLOSED, attempt.invoice_id, D(2026, 12, 4))


@pytest.mark.django_db
def test_closed_by_an_operators_extension(portal, platform):
    portal([order("o1", D(2026, 12, 10), auto_renew=False)], customers=EMPTY)
    nights(D(2026, 12, 4))
    o1 = Order.objects.get(ref="o1")
    invoice = order_extend(actor=platform, order_id=o1.pk, until=D(2027, 1, 10), reason="goodwill", on=D(2026, 12, 5))
    assert (the("o1").status, the("o1").invoice_id) == (CLOSED, invoice.pk)


@pytest.mark.django_db
def test_cancelled_by_do_not_renew_and_opened_again_when_it_is_cleared(portal):
    # Given an open renewal
    portal([order("o1", D(2026, 12, 10), auto_renew=False)], customers=EMPTY)
    nights(D(2026, 12, 3))
    o1 = Order.objects.get(ref="o1")
    customer = actor_for_user(member(customer=Customer.objects.get(ref="c1"), username="jane"))
    with time_machine.travel(datetime.datetime(2026, 12, 5, 12, tzinfo=datetime.UTC), tick=False):
        # When the customer marks the order do-not-renew
        order_set_flags(actor=customer, order_id=o1.pk, do_not_renew=True)
        # Then it is cancelled at once, and the nights leave it so
        assert (the("o1").status, the("o1").closed_on) == (CANCELLED, D(2026, 12, 5))
        nights(D(2026, 12, 5))
        assert the("o1").status == CANCELLED
        # When the mark is cleared while the window holds: open again at once, still one
        order_set_flags(actor=customer, order_id=o1.pk, do_not_renew=False)
    assert opened() == [("o1", D(2026, 12, 10), OPEN)]
    assert the("o1").closed_on is None


@pytest.mark.django_db
def test_priced_again_by_the_next_night_when_the_plans_price_changes(portal):
    # Given an open renewal at the plan's 10.00 a month
    portal([order("o1", D(2026, 12, 10), auto_renew=False)], customers=EMPTY)
    nights(D(2026, 12, 4))
    assert the("o1").amount == Decimal("10.00")
    # When an admin raises the price and the next night runs
    PlanPrice.objects.filter(plan__ref="basic", months=1).update(amount=Decimal("12.00"))
    nights(D(2026, 12, 5))
    # Then it lists what paying it now charges, still open for its cycle
    row = the("o1")
    assert (row.status, row.cycle, row.amount) == (OPEN, D(2026, 12, 10), Decimal("12.00"))
    quote = renewal_quote(actor=Actor.system("test"), items=[(row.order_id, 1)])
    assert quote.total == row.amount


@pytest.mark.django_db
def test_priced_again_when_its_tenure_changes(portal, platform):
    portal([order("o1", D(2026, 12, 10), auto_renew=False)], customers=EMPTY)
    nights(D(2026, 12, 4))
    with time_machine.travel(datetime.datetime(2026, 12, 5, 12, tzinfo=datetime.UTC), tick=False):
        order_tenure_change(actor=platform, order_id=Order.objects.get(ref="o1").pk, months=3, reason="deal")
    assert (the("o1").status, the("o1").months, the("o1").amount) == (OPEN, 3, Decimal("27.00"))


@pytest.mark.django_db
def test_cancelled_at_termination_by_the_night_and_by_an_operator(portal, platform):
    # Given two unpaid orders whose renewals opened, one terminated by an operator
    portal(
        [order("night", D(2026, 12, 10), auto_renew=False), order("admin", D(2026, 12, 10), auto_renew=False)],
        customers=EMPTY,
    )
    nights(D(2026, 12, 3))
    order_terminate(
        actor=platform,
        order_id=Order.objects.get(ref="admin").pk,
        reason="abuse",
        suspend_first=True,
        on=D(2026, 12, 4),
    )
    assert (the("admin").status, the("admin").closed_on) == (CANCELLED, D(2026, 12, 4))
    # When the other runs out: suspended Dec 11 (its renewal still payable), terminated after the 15 days' grace
    nights(D(2026, 12, 11))
    assert the("night").status == OPEN
    nights(D(2026, 12, 26))
    assert Order.objects.get(ref="night").status == "terminated"
    assert (the("night").status, the("night").closed_on) == (CANCELLED, D(2026, 12, 26))


@pytest.mark.django_db
def test_an_import_that_marks_do_not_renew_has_it_cancelled_by_the_next_night(portal):
    portal([order("o1", D(2026, 12, 10), auto_renew=False)], customers=EMPTY)
    nights(D(2026, 12, 3))
    portal_import(
        data=portal_document([order("o1", D(2026, 12, 10), auto_renew=False, do_not_renew=True)], customers=EMPTY),
        actor=Actor.system("test"),
    )
    nights(D(2026, 12, 4))
    # (at once if the importer goes through the orders' services, else by the night)
    assert the("o1").status == CANCELLED
    assert the("o1").closed_on <= D(2026, 12, 4)


@pytest.mark.django_db
def test_a_dry_run_opens_none(portal, run):
    portal([order("o1", D(2026, 12, 10), auto_renew=False)], customers=EMPTY)
    run(D(2026, 12, 3), dry_run=True)
    assert not OpenRenewal.objects.exists()


@pytest.mark.django_db
def test_an_account_whose_renewals_cannot_be_priced_is_left_out_alone(portal, monkeypatch):
    from core.models import Fault
    from renewals.facts import Catalog

    portal(
        [order("bad", D(2026, 12, 10), auto_renew=False), order("good", D(2026, 12, 10), customer="c2")],
        customers=[*EMPTY, {"ref": "c2", "name": "B", "email": "b@x.test", "reseller": "r1"}],
    )
    real = Catalog.next_period

    def broken(self, row):
        if row.ref == "bad":
            raise ValueError("bad data")
        return real(self, row)

    monkeypatch.setattr(Catalog, "next_period", broken)
    assert open_renewals_sync(D(2026, 12, 3), load_catalog()) == 1
    assert opened() == [("good", D(2026, 12, 10), OPEN)]
    fault = Fault.objects.get()
    assert (fault.subject, fault.orders) == (f"open-renewals:{Customer.objects.get(ref='c1').pk}", ["bad"])


@pytest.mark.django_db
def test_the_reminder_links_to_the_renewal_center(portal):
    portal([order("o1", D(2026, 12, 10), auto_renew=False)], customers=EMPTY)
    nights(D(2026, 12, 3))  # 7 days before: reminder and open renewal
    text = Notice.objects.get(kind="renewal_reminder").rendered().text
    assert "/renewals/?tab=manual" in text


@pytest.mark.django_db
def test_the_advance_notice_links_to_the_renewal_center(portal):
    portal([order("o1", D(2026, 12, 10))])
    nights(D(2026, 11, 30))
    assert "/renewals/?tab=auto" in Notice.objects.get(kind="advance_notice").rendered().html


@pytest.mark.django_db
def test_a_tenant_sees_its_own_and_a_reseller_its_subtree(portal):
    portal(
        [
            order("o1", D(2026, 12, 10)),
            order("o2", D(2026, 12, 10), customer="c2"),
            order("o9", D(2026, 12, 10), customer="c9"),
        ],
        resellers=[
            {"ref": "r1", "name": "Acme", "email": "a@x.test"},
            {"ref": "west", "name": "West", "email": "w@x.test", "parent": "r1"},
            {"ref": "other", "name": "Other", "email": "o@x.test"},
        ],
        customers=[
            {"ref": "c1", "name": "J", "email": "j@x.test", "reseller": "r1"},
            {"ref": "c2", "name": "W", "email": "w@x.test", "reseller": "west"},
            {"ref": "c9", "name": "O", "email": "o@x.test", "reseller": "other"},
        ],
    )
    nights(D(2026, 12, 3))
    customers = {c.ref: c for c in Customer.objects.all()}
    from tenants.models import Reseller

    resellers = {r.ref: r for r in Reseller.objects.all()}

    def refs(user) -> list[str]:
        return [row.order.ref for row in open_renewals_of(actor=actor_for_user(user))]

    assert refs(member(customer=customers["c1"], username="owner")) == ["o1"]
    assert refs(member(customer=customers["c1"], username="colleague")) == ["o1"]
    assert refs(member(customer=customers["c9"], username="outsider")) == ["o9"]
    assert sorted(refs(member(reseller=resellers["r1"], username="acme"))) == ["o1", "o2"]
    assert refs(member(reseller=resellers["west"], username="west")) == ["o2"]
    assert (
        open_renewals_of(actor=actor_for_user(member(customer=customers["c1"], username="x")), status=CLOSED).count()
        == 0
    )
