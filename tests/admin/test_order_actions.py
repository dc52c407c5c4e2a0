"""Django admin: an order's paid-thru date, status and tenure and an account's
balance are read-only; they change through actions that ask for a reason;
a price that orders renew at cannot go; a plan's lead days follow the
importer's rule."""

import datetime

import pytest
import time_machine
from django.contrib.auth.models import Permission

from audit.models import AuditEvent
from balances.models import Account
from catalog.models import Plan, PlanPrice
from interchange.importer import portal_import
from invoices.models import InvoiceLine, RenewalSource
from orders.models import Order
from tenants.scope import Actor
from tests.admin.test_admin import act, url
from tests.factories import UserFactory
from tests.renewals.conftest import order, portal_document

pytestmark = pytest.mark.django_db
D = datetime.date


@pytest.fixture
def portal(db):
    """c1 (balance 100.00) with o1, o2, o3 on Basic (1, 3, 12 months) and o4 on
    Cert, all paid thru 2026-12-10; o2 and o3 renew at 12 months."""
    portal_import(
        data=portal_document(
            [
                order("o1", D(2026, 12, 10)),
                order("o2", D(2026, 12, 10), tenure=12),
                order("o3", D(2026, 12, 10), tenure=12),
                order("o5", D(2026, 12, 10), tenure=12, status="suspended"),
                order("o4", D(2026, 12, 10), plan="cert", tenure=12),
            ]
        ),
        actor=Actor.system("test"),
    )
    return {o.ref: o for o in Order.objects.all()}


@pytest.fixture
def staff(client, portal):
    client.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def viewer(client, portal):
    """Staff that may only look."""
    user = UserFactory(username="viewer", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_order", "view_account", "view_plan", "view_planprice"])
    )
    client.force_login(user)
    return client


def form_fields(client, model, pk):
    return set(client.get(url(model, "change", pk)).context["adminform"].form.fields)


def test_the_paid_thru_date_status_tenure_and_balance_are_read_only(staff, portal):
    o1 = portal["o1"]
    fields = form_fields(staff, Order, o1.pk)
    assert fields.isdisjoint({"expires_on", "status", "tenure_months", "anchor_day"})
    assert "auto_renew" in fields  # the switches stay editable
    page = staff.get(url(Order, "change", o1.pk)).content.decode()
    assert "Dec. 10, 2026" in page or "2026-12-10" in page  # shown, not editable
    assert form_fields(staff, Account, o1.customer_id).isdisjoint({"balance", "held"})
    # A forged post of the field changes nothing.
    data = {"ref": "o1", "customer": o1.customer_id, "plan": o1.plan_id, "payment_source": "balance"}
    response = staff.post(url(Order, "change", o1.pk), {**data, "expires_on": "2026-01-01", "tenure_months": "3"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    o1.refresh_from_db()
    assert (o1.expires_on, o1.tenure_months) == (D(2026, 12, 10), 1)


def test_extend_asks_for_a_date_and_a_reason_on_an_intermediate_page(staff, portal):
    o1 = portal["o1"]
    page = act(staff, Order, "extend_orders", [o1]).content.decode()
    assert "New paid-thru date" in page
    assert "Required: kept in the audit log" in page
    page = act(staff, Order, "extend_orders", [o1], until="2027-01-10", reason="", apply="1").content.decode()
    assert "This field is required." in page
    assert InvoiceLine.objects.count() == 0
    page = act(staff, Order, "extend_orders", [o1], until="2027-01-10", reason="outage", apply="1").content.decode()
    assert "Extend (complimentary): o1." in page
    o1.refresh_from_db()
    assert o1.expires_on == D(2027, 1, 10)
    line = InvoiceLine.objects.select_related("invoice").get()
    assert (line.invoice.source, line.complimentary) == (RenewalSource.COMPLIMENTARY, True)
    assert AuditEvent.objects.get(action="order.extend").reason == "outage"


@time_machine.travel(datetime.datetime(2026, 12, 12, 12, tzinfo=datetime.UTC))
def test_restore_of_a_past_due_order_says_it_needs_a_date(staff, portal):
    o5 = portal["o5"]  # suspended, paid thru 2026-12-10
    page = act(staff, Order, "restore_orders", [o5], reason="paid by phone", apply="1").content.decode()
    assert "restore it together with an extension" in page
    assert Order.objects.get(pk=o5.pk).status == "suspended"
    act(staff, Order, "restore_orders", [o5], reason="paid by phone", until="2027-01-10", apply="1")
    o5.refresh_from_db()
    assert (o5.status, o5.expires_on) == ("active", D(2027, 1, 10))


def test_suspend_and_terminate_through_the_admin(staff, portal):
    o1 = portal["o1"]
    act(staff, Order, "suspend_orders", [o1], reason="abuse", apply="1")
    assert Order.objects.get(pk=o1.pk).status == "suspended"
    act(staff, Order, "terminate_orders", [o1], reason="abuse confirmed", apply="1")
    assert Order.objects.get(pk=o1.pk).status == "terminated"
    assert list(AuditEvent.objects.filter(action="order.status").values_list("reason", flat=True).order_by("pk")) == [
        "abuse",
        "abuse confirmed",
    ]


def test_change_tenure_through_the_admin(staff, portal):
    o1 = portal["o1"]
    page = act(staff, Order, "change_tenure", [o1], months="6", reason="asked", apply="1").content.decode()
    assert "no 6-month price" in page
    act(staff, Order, "change_tenure", [o1], months="12", reason="asked", apply="1")
    assert Order.objects.get(pk=o1.pk).tenure_months == 12


@pytest.mark.parametrize(
    ("model", "action"),
    [
        (Order, "extend_orders"),
        (Order, "suspend_orders"),
        (Order, "restore_orders"),
        (Order, "terminate_orders"),
        (Order, "change_tenure"),
        (Order, "lock_orders"),
        (Account, "post_adjustment"),
        (Plan, "delete_selected"),
    ],
)
def test_staff_with_view_permission_only_gets_403(viewer, portal, model, action):
    objects = {Order: [portal["o1"]], Account: list(Account.objects.all()), Plan: list(Plan.objects.all())}[model]
    assert viewer.get(url(model, "changelist")).status_code == 200
    extra = {"reason": "x", "until": "2027-01-10", "months": "12", "amount": "5.00", "apply": "1"}
    response = act(viewer, model, action, objects, **extra)
    assert response.status_code == 403
    o1 = Order.objects.get(pk=portal["o1"].pk)
    assert (o1.expires_on, o1.status, o1.locked) == (D(2026, 12, 10), "active", False)
    assert AuditEvent.objects.filter(actor_label="viewer").count() == 0


# --- prices and lead days -----------------------------------------------------


def plan_post(plan, prices=None, **changes):
    """The plan's change form as posted: its fields and its price inline
    (``prices``: {price id or None: (months, amount, delete)})."""
    stored = {p.pk: (p.months, str(p.amount), False) for p in plan.prices.all()}
    prices = {**stored, **(prices or {})}
    data = {
        "ref": plan.ref,
        "name": plan.name,
        "category": plan.category_id,
        "currency": plan.currency,
        "auto_renew_allowed": "on",
        "lead_days": "" if plan.lead_days is None else plan.lead_days,
        "prices-TOTAL_FORMS": len(prices),
        "prices-INITIAL_FORMS": len(stored),
        "prices-MIN_NUM_FORMS": 0,
        "prices-MAX_NUM_FORMS": 1000,
        **changes,
    }
    # Stored prices first, as the inline lists them.
    for i, (pk, (months, amount, delete)) in enumerate(sorted(prices.items(), key=lambda kv: kv[0] is None)):
        data.update({f"prices-{i}-id": pk or "", f"prices-{i}-plan": plan.pk, f"prices-{i}-months": months})
        data[f"prices-{i}-amount"] = amount
        if delete:
            data[f"prices-{i}-DELETE"] = "on"
    return data


def test_a_price_that_orders_renew_at_cannot_be_deleted_nor_its_months_changed(staff, portal):
    plan = Plan.objects.get(ref="basic")
    twelve = plan.prices.get(months=12)
    response = staff.post(url(Plan, "change", plan.pk), plan_post(plan, {twelve.pk: (12, "100.00", True)}))
    assert response.status_code == 200
    assert "3 active orders renew at 12 months: change their tenure first" in response.content.decode()
    response = staff.post(url(Plan, "change", plan.pk), plan_post(plan, {twelve.pk: (24, "180.00", False)}))
    assert "3 active orders renew at 12 months: change their tenure first" in response.content.decode()
    assert sorted(plan.prices.values_list("months", flat=True)) == [1, 3, 12]
    # A price no order renews at can go (and the change is audited).
    three = plan.prices.get(months=3)
    response = staff.post(url(Plan, "change", plan.pk), plan_post(plan, {three.pk: (3, "27.00", True)}))
    assert response.status_code == 302
    assert sorted(plan.prices.values_list("months", flat=True)) == [1, 12]
    assert AuditEvent.objects.filter(action="plan.prices").count() == 1


def test_a_terminated_orders_tenure_does_not_hold_its_price(staff, portal):
    Order.objects.filter(ref__in=["o2", "o3", "o5"]).update(status="terminated")
    plan = Plan.objects.get(ref="basic")
    twelve = plan.prices.get(months=12)
    response = staff.post(url(Plan, "change", plan.pk), plan_post(plan, {twelve.pk: (12, "100.00", True)}))
    assert response.status_code == 302
    assert not PlanPrice.objects.filter(pk=twelve.pk).exists()


def test_deleting_a_plan_that_orders_renew_at_says_why(staff, portal):
    plan = Plan.objects.get(ref="cert")
    page = staff.get(url(Plan, "delete", plan.pk)).content.decode()
    assert "Cert: 1 active order renews at 12 months: change their tenure first" in page
    response = staff.post(url(Plan, "delete", plan.pk), {"post": "yes"})
    assert response.status_code in (200, 403)
    assert Plan.objects.filter(pk=plan.pk).exists()


def test_lead_days_are_checked_by_the_importers_rule(staff, portal):
    from interchange.document import validate_document

    plan = Plan.objects.get(ref="basic")  # shortest tenure 1 month: at most 27 days
    response = staff.post(url(Plan, "change", plan.pk), plan_post(plan, lead_days="28"))
    assert response.status_code == 200
    page = response.content.decode()
    sentence = (
        "must be shorter than the shortest tenure (1 month(s) = 28 days at 28 days a month), so at most 27, not 28"
    )
    assert f"Lead days {sentence}" in page
    # The importer says the same of the same plan.
    document = portal_document([])
    document["plans"][0]["lead_days"] = 28
    _doc, errors = validate_document(document)
    assert errors == [f"plans[0].lead_days: {sentence}"]
    # Removing the 1-month price in the same form makes 28 days fit (shortest: 3 months).
    one = plan.prices.get(months=1)
    Order.objects.filter(ref="o1").update(tenure_months=3)
    response = staff.post(url(Plan, "change", plan.pk), plan_post(plan, {one.pk: (1, "10.00", True)}, lead_days="28"))
    assert response.status_code == 302
    assert Plan.objects.get(pk=plan.pk).lead_days == 28
    response = staff.post(url(Plan, "change", plan.pk), plan_post(plan, lead_days="27"))
    assert response.status_code == 302
