"""An order's own renewal terms (SPEC "Per-order settings"): its own
auto-renew point overrides its plan's, and an individual price for its tenure
renews at that price, kept or given back to the plan's after the renewal.
Through the rules, the service, the nightly run (report, dry-run, preview,
outlook, advance notice) and a manual renewal."""

import datetime
from decimal import Decimal

import pytest

from audit.models import AuditEvent
from balances.models import Account
from catalog.rules import lead_days_problem
from core.errors import DomainError, NotFound
from invoices.models import InvoiceLine
from notifications.models import Notice
from orders.models import Order
from orders.services import order_set_terms, order_tenure_change
from renewals.facts import account_rows, facts_for, load_catalog, order_rows
from renewals.manual import renewal_pay, renewal_quote
from renewals.rules import (
    clears_individual_price,
    eligibility,
    lead_days,
    own_lead_fits,
    renewal_price,
    renewal_prices,
)
from renewals.selectors import next_attempt_on, order_renewal_outlook, sweep_preview
from tenants.models import Customer, Reseller
from tenants.scope import Actor, ActorKind
from tests.renewals.conftest import order

D = datetime.date
DAY = datetime.timedelta(days=1)
EXPIRES = D(2026, 12, 10)
PLAN = {1: Decimal("10.00"), 3: Decimal("27.00"), 12: Decimal("100.00")}
SYSTEM = Actor.system("test")


def oid(ref):
    return Order.objects.get(ref=ref).pk


def jane():
    return Actor(kind=ActorKind.CUSTOMER, label="jane", customer_id=Customer.objects.get(ref="c1").pk)


def reseller(ref="r1"):
    found = Reseller.objects.get(ref=ref)
    return Actor(kind=ActorKind.RESELLER, label=ref, reseller_id=found.pk, reseller_path=found.path)


def terms(ref, **changes):
    return order_set_terms(actor=SYSTEM, order_id=oid(ref), reason="deal", **changes)


def reported(report) -> dict[str, tuple]:
    """o1 and o2's outcomes and amounts in a run's report (o3 renews at 12
    months, 30 days before; o9 is another reseller's)."""
    return {o["order"]: (o["outcome"], o["amount"]) for o in report["orders"] if o["order"] in ("o1", "o2")}


# The rules, without a database ---------------------------------------------------


@pytest.mark.parametrize(
    ("tenure", "plan", "own", "expected"),
    [
        (1, None, None, 7),
        (1, None, 12, 12),  # the order's own wins
        (1, 14, 12, 12),  # over the plan's too
        (1, 14, None, 14),
        (12, None, 0, 0),  # on the expiry day only
        (1, None, 27, 27),  # 1 month = 28 days: at most 27
        (1, None, 28, 7),  # does not fit a 1-month tenure (renewed for a shorter period): the plan's applies
        (1, 14, 40, 14),
        (2, None, 40, 40),
    ],
)
def test_the_order_s_own_lead_days_win_while_they_fit_its_tenure(tenure, plan, own, expected):
    assert lead_days(tenure, plan, own) == expected


@pytest.mark.parametrize("lead", [0, 1, 26, 27, 28, 29, 55, 56, 300])
@pytest.mark.parametrize("tenure", [1, 2, 3, 12])
def test_fitting_is_the_bound_the_service_checks(lead, tenure):
    assert own_lead_fits(lead, tenure) == (lead_days_problem(lead, [tenure]) is None)


@pytest.mark.parametrize(
    ("months", "tenure", "individual", "expected"),
    [
        (1, 1, None, Decimal("10.00")),
        (1, 1, Decimal("7.00"), Decimal("7.00")),  # its tenure: the individual price
        (3, 1, Decimal("7.00"), Decimal("27.00")),  # another period: the plan's
        (12, 12, Decimal("0.00"), Decimal("0.00")),  # free is a price
        (6, 6, Decimal("50.00"), Decimal("50.00")),  # the plan no longer sells the tenure: still priced
        (6, 1, Decimal("7.00"), None),  # nothing prices it
    ],
)
def test_one_pricing_rule(months, tenure, individual, expected):
    assert renewal_price(PLAN, months, tenure, individual) == expected


def test_the_periods_an_order_can_renew_for_are_priced_by_the_rule():
    assert renewal_prices(PLAN, 1, Decimal("7.00")) == [(1, Decimal("7.00")), (3, Decimal("27.00")), (12, PLAN[12])]
    assert renewal_prices(PLAN, 6, Decimal("50.00"))[2] == (6, Decimal("50.00"))
    assert renewal_prices(PLAN, 1, None) == sorted(PLAN.items())


@pytest.mark.parametrize(
    ("back_to_plan", "months", "base", "for_period", "expected"),
    [
        (False, 1, Decimal("7.00"), False, False),  # keep
        (True, 1, Decimal("7.00"), False, True),  # plan: the renewal after this one at the plan's price
        (True, 1, Decimal("10.00"), False, False),  # quoted at the plan's price before the deal: not at it
        (False, 3, Decimal("27.00"), True, True),  # by hand for another period: the price was for the old tenure
        (True, 1, Decimal("7.00"), True, True),
        (False, 1, Decimal("7.00"), True, False),
    ],
)
def test_when_a_renewal_ends_the_individual_price(back_to_plan, months, base, for_period, expected):
    assert (
        clears_individual_price(
            individual_price=Decimal("7.00"),
            back_to_plan=back_to_plan,
            tenure_months=1,
            months=months,
            base_amount=base,
            for_period=for_period,
        )
        is expected
    )
    assert not clears_individual_price(
        individual_price=None, back_to_plan=True, tenure_months=1, months=3, base_amount=base, for_period=True
    )


# The rule and its query form agree -------------------------------------------------


@pytest.mark.django_db
def test_own_lead_days_in_the_window_queries_agree_with_the_rule(portal):
    plans = [
        {"ref": "basic", "name": "Basic", "category": "hosting",
         "prices": {"1": "10.00", "3": "27.00", "12": "100.00"}},
        {"ref": "early", "name": "Early", "category": "hosting", "prices": {"1": "10.00", "12": "100.00"},
         "lead_days": 14},
    ]  # fmt: skip
    rows = [
        order(f"{plan}-{tenure}-{lead}-{n}", EXPIRES + n * DAY, plan=plan, tenure=tenure)
        for plan, tenures in (("basic", (1, 3, 12)), ("early", (1, 12)))
        for tenure in tenures
        for lead in ("none", 0, 12, 27, 40)
        for n in range(0, 45, 4)
    ]
    portal(rows, plans=plans)
    for ordered in Order.objects.all():
        lead = ordered.ref.split("-")[2]
        if lead != "none":
            # Set as data: 40 days does not fit a short tenure (as after a renewal for a shorter period).
            Order.objects.filter(pk=ordered.pk).update(lead_days=int(lead))
    catalog = load_catalog()
    assert catalog.own_leads == (0, 12, 27, 40)
    orders = order_rows(Order.objects.all())
    accounts = account_rows(Account.objects.all())

    def verdict(o, day):
        return eligibility(facts_for(o, accounts[o.customer_id], catalog), day)

    for day in [EXPIRES - 45 * DAY + n * DAY for n in range(0, 95, 2)]:
        due = set(Order.objects.filter(catalog.window_q(day)).values_list("ref", flat=True))
        opens = set(Order.objects.filter(catalog.window_opens_q(day)).values_list("ref", flat=True))
        assert due == {o.ref for o in orders if verdict(o, day).due}, day
        assert opens == {o.ref for o in orders if verdict(o, day).window_opens == day}, day
    leads = {(o.expires_on - verdict(o, EXPIRES).window_opens).days for o in orders}
    assert leads == {0, 7, 12, 14, 27, 30, 40}


# The service ------------------------------------------------------------------------


@pytest.fixture
def shop(portal):
    portal(
        [
            order("o1", EXPIRES),
            order("o2", EXPIRES),
            order("o3", EXPIRES, tenure=12),
            order("o9", EXPIRES, customer="c9"),
        ],
        resellers=[
            {"ref": "r1", "name": "Acme Hosting", "email": "billing@acme.test"},
            {"ref": "r9", "name": "Other Hosting", "email": "hi@other.test"},
        ],
        customers=[
            {"ref": "c1", "name": "Jane", "email": "jane@example.test", "reseller": "r1", "balance": "200.00"},
            {"ref": "c9", "name": "Olga", "email": "olga@example.test", "reseller": "r9", "balance": "200.00"},
        ],
    )  # fmt: skip


@pytest.mark.django_db
def test_a_reseller_sets_an_order_s_terms_audited_before_and_after(shop):
    changed = order_set_terms(
        actor=reseller(), order_id=oid("o1"), lead_days=12, individual_price=Decimal("7.5"), after_renewal="plan"
    )
    assert changed == ["lead_days", "individual_price", "after_renewal"]
    o1 = Order.objects.get(ref="o1")
    assert (o1.lead_days, o1.individual_price, o1.after_renewal) == (12, Decimal("7.50"), "plan")
    events = {e.action: (e.actor_label, e.before, e.after) for e in AuditEvent.objects.filter(target_id=o1.pk)}
    assert events["order.lead_days"] == ("r1", None, 12)
    assert events["order.individual_price"] == ("r1", None, "7.50")
    assert events["order.after_renewal"] == ("r1", "keep", "plan")
    # Back to the plan's: null clears; the same values again change nothing.
    assert order_set_terms(actor=reseller(), order_id=oid("o1"), lead_days=None, individual_price=None) == [
        "lead_days",
        "individual_price",
    ]
    assert order_set_terms(actor=reseller(), order_id=oid("o1"), lead_days=None) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("ref", "changes", "code", "words"),
    [
        ("o1", {"lead_days": 28}, "invalid_lead_days", "at most 27, not 28"),
        ("o3", {"lead_days": 336}, "invalid_lead_days", "at most 335, not 336"),
        ("o1", {"lead_days": -1}, "invalid", "0 or more"),
        ("o1", {"individual_price": Decimal("7.001")}, "invalid_price", "finer than USD's minor unit"),
        ("o1", {"individual_price": Decimal("-1")}, "invalid_price", "cannot be negative"),
        ("o1", {"after_renewal": "forever"}, "invalid", "keep, plan"),
        ("o1", {"tenure_months": 12}, "invalid", "not a renewal term"),
    ],
)
def test_bad_terms_are_refused_naming_the_order_and_change_nothing(shop, ref, changes, code, words):
    before, audited = list(Order.objects.order_by("pk").values()), AuditEvent.objects.count()
    with pytest.raises(DomainError) as refused:
        # A good term beside the bad one is not applied either.
        order_set_terms(actor=reseller(), order_id=oid(ref), **{"lead_days": 5, **changes})
    assert refused.value.code == code
    assert words in str(refused.value)
    assert list(Order.objects.order_by("pk").values()) == before
    assert AuditEvent.objects.count() == audited


@pytest.mark.django_db
def test_the_customer_may_not_set_terms_and_another_tenant_s_order_is_not_found(shop):
    with pytest.raises(DomainError) as refused:
        order_set_terms(actor=jane(), order_id=oid("o1"), individual_price=Decimal("1.00"))
    assert refused.value.code == "forbidden"
    with pytest.raises(NotFound):
        order_set_terms(actor=reseller(), order_id=oid("o9"), lead_days=3)
    assert not Order.objects.filter(individual_price__isnull=False).exists()
    assert not Order.objects.filter(lead_days__isnull=False).exists()


@pytest.mark.django_db
def test_an_operator_s_change_of_tenure_ends_the_individual_price_of_the_old_one(shop):
    terms("o1", individual_price=Decimal("7.00"))
    order_tenure_change(actor=SYSTEM, order_id=oid("o1"), months=12, reason="asked")
    o1 = Order.objects.get(ref="o1")
    assert (o1.tenure_months, o1.individual_price) == (12, None)
    assert AuditEvent.objects.get(action="order.individual_price", target_id=o1.pk, reason="asked").after is None


# The nightly run, its dry-run, the preview, the outlook and the advance notice -------


@pytest.mark.django_db
def test_own_lead_days_of_12_make_the_order_due_12_days_before_and_not_13(shop, run):
    terms("o1", lead_days=12)
    outlook = order_renewal_outlook(actor=jane(), order_id=oid("o1"), on=EXPIRES - 30 * DAY)
    assert outlook.eligibility.window_opens == EXPIRES - 12 * DAY
    assert next_attempt_on(outlook, EXPIRES - 30 * DAY) == EXPIRES - 12 * DAY
    # The advance notice: three days before the first attempt.
    run(EXPIRES - 16 * DAY)
    assert not Notice.objects.filter(kind="advance_notice").exists()
    run(EXPIRES - 15 * DAY)
    assert Notice.objects.get(kind="advance_notice").order_refs == ["o1"]
    # 13 days before: nothing is due, whatever predicts it.
    thirteen = EXPIRES - 13 * DAY
    assert not sweep_preview(actor=reseller(), on=thirteen).plans
    assert run(thirteen, dry_run=True)["orders"] == []
    assert run(thirteen)["orders"] == []
    # 12 days before: o1 alone (o2 waits for its plan's 7 days); preview, dry-run and run agree.
    twelve = EXPIRES - 12 * DAY
    [plan] = sweep_preview(actor=reseller(), on=twelve).plans
    assert [p.order.ref for p in plan.batch] == ["o1"]
    predicted = run(twelve, dry_run=True)
    real = run(twelve)
    assert reported(predicted) == reported(real) == {"o1": ("renewed", "10.00")}
    assert Order.objects.get(ref="o1").expires_on == D(2027, 1, 10)
    assert Order.objects.get(ref="o2").expires_on == EXPIRES


@pytest.mark.django_db
def test_an_individual_price_renews_at_that_price_kept_or_back_to_the_plan_s(shop, run, assert_invariants):
    terms("o1", individual_price=Decimal("7.00"))  # keep (the default)
    terms("o2", individual_price=Decimal("6.00"), after_renewal="plan")
    outlook = order_renewal_outlook(actor=jane(), order_id=oid("o2"), on=EXPIRES - 20 * DAY)
    assert (outlook.renews_at, outlook.currency) == (Decimal("6.00"), "USD")
    first = EXPIRES - 7 * DAY
    assert (
        reported(run(first, dry_run=True))
        == reported(run(first))
        == {
            "o1": ("renewed", "7.00"),
            "o2": ("renewed", "6.00"),
        }
    )
    assert set(InvoiceLine.objects.filter(order__ref__in=["o1", "o2"]).values_list("order__ref", "amount")) == {
        ("o1", Decimal("7.00")),
        ("o2", Decimal("6.00")),
    }
    o1, o2 = Order.objects.get(ref="o1"), Order.objects.get(ref="o2")
    assert (o1.individual_price, o2.individual_price) == (Decimal("7.00"), None)
    event = AuditEvent.objects.get(action="order.individual_price", target_id=o2.pk, before="6.00")
    assert (event.after, event.actor_label) == (None, "run_renewals")
    assert "plan's price" in event.reason
    assert order_renewal_outlook(actor=jane(), order_id=o2.pk, on=first).renews_at == Decimal("10.00")
    # The next cycle: o1 still at its price, o2 at the plan's.
    second = D(2027, 1, 10) - 7 * DAY
    assert reported(run(second)) == {"o1": ("renewed", "7.00"), "o2": ("renewed", "10.00")}
    # 7 + 6, then 7 + 10; and o3's 12 months at the plan's 100.00.
    assert Account.objects.get(customer__ref="c1").balance == Decimal("200.00") - Decimal("30.00") - Decimal("100.00")
    assert_invariants()


@pytest.mark.django_db
def test_an_individual_price_where_the_plan_no_longer_sells_the_tenure_still_renews(shop, run):
    order_tenure_change(actor=SYSTEM, order_id=oid("o1"), months=3, reason="asked")
    terms("o1", individual_price=Decimal("20.00"))
    Order.objects.filter(ref="o2").update(auto_renew=False)
    from catalog.models import PlanPrice

    PlanPrice.objects.filter(months=3).delete()
    assert reported(run(EXPIRES - 7 * DAY)) == {"o1": ("renewed", "20.00"), "o2": ("skipped", None)}


# By hand ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_by_hand_the_tenure_is_at_the_individual_price_and_another_period_at_the_plan_s(shop, assert_invariants):
    terms("o1", individual_price=Decimal("7.00"))
    terms("o2", individual_price=Decimal("7.00"))
    quote = renewal_quote(actor=jane(), items=[(oid("o1"), 1), (oid("o2"), 3)])
    assert [(line.order_ref, line.amount) for line in quote.lines] == [
        ("o1", Decimal("7.00")),
        ("o2", Decimal("27.00")),
    ]
    renewal_pay(actor=jane(), quote=quote, on=EXPIRES - 3 * DAY)
    o1, o2 = Order.objects.get(ref="o1"), Order.objects.get(ref="o2")
    assert (o1.tenure_months, o1.individual_price) == (1, Decimal("7.00"))  # keep: kept
    assert (o2.tenure_months, o2.individual_price) == (3, None)  # the price was for 1 month
    event = AuditEvent.objects.get(action="order.individual_price", target_id=o2.pk, before="7.00")
    assert (event.before, event.after, event.actor_label) == ("7.00", None, "jane")
    assert event.reason == "renewed for another period than the one its individual price was for"
    assert not AuditEvent.objects.filter(action="order.individual_price", target_id=o1.pk).exclude(reason="deal")
    # Its next renewal: the plan's 3-month price.
    assert renewal_quote(actor=jane(), items=[(o2.pk, 3)]).total == Decimal("27.00")
    assert_invariants()


@pytest.mark.django_db
def test_by_hand_after_renewal_plan_gives_the_next_renewal_the_plan_s_price(shop):
    terms("o1", individual_price=Decimal("7.00"), after_renewal="plan")
    renewal_pay(actor=jane(), quote=renewal_quote(actor=jane(), items=[(oid("o1"), 1)]), on=EXPIRES - 3 * DAY)
    assert Order.objects.get(ref="o1").individual_price is None
    assert renewal_quote(actor=jane(), items=[(oid("o1"), 1)]).total == Decimal("10.00")


@pytest.mark.django_db
def test_a_complimentary_extension_leaves_the_individual_price(shop):
    from renewals.operator import order_extend

    terms("o1", individual_price=Decimal("0.00"), after_renewal="plan")
    order_extend(actor=SYSTEM, order_id=oid("o1"), until=D(2027, 1, 10), reason="goodwill")
    assert Order.objects.get(ref="o1").individual_price == Decimal("0.00")
