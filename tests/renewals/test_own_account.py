"""Resellers are customers too (SPEC "Per-order settings, open renewals,
resellers as customers"): a reseller's own account is held with the reseller
above it, set by a platform admin (tenants.services.customer_set_owner_reseller,
the Customer admin), and the nightly run, notices and invoices treat it like
any account: the invoice's seller is the upper reseller.

The portal: acme (top) above west; wown (balance 50.00) sold by acme, owned by
west, with ow1 (basic, 10.00 a month, auto-renew on) paid thru 2026-12-01;
c1 sold by west (an ordinary customer of west).
"""

import datetime
from decimal import Decimal

import pytest

from audit.models import AuditEvent
from balances.models import Account
from core.errors import DomainError, NotFound
from invoices.models import Invoice
from notifications.models import Notice
from orders.models import Order
from tenants.models import Customer, Reseller
from tenants.rules import own_account_problem
from tenants.scope import Actor, actor_for_user
from tenants.services import customer_set_owner_reseller
from tests.admin.test_admin import url
from tests.factories import UserFactory, member
from tests.renewals.conftest import order

D = datetime.date
EXPIRES = D(2026, 12, 1)

RESELLERS = [
    {"ref": "acme", "name": "Acme Hosting", "email": "billing@acme.test"},
    {"ref": "west", "name": "Acme West", "email": "west@acme.test", "parent": "acme"},
    {"ref": "south", "name": "Acme South", "email": "south@acme.test", "parent": "acme"},
]
CUSTOMERS = [
    {"ref": "wown", "name": "Acme West (own)", "email": "ops@west.test", "reseller": "acme", "balance": "50.00"},
    {"ref": "c1", "name": "Jane Doe", "email": "jane@example.test", "reseller": "west", "balance": "10.00"},
    {"ref": "top", "name": "Top account", "email": "top@example.test", "reseller": "west"},
]


# The rule, plain values ---------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"parent_id": 1, "seller_id": 1}, ""),
        ({"parent_id": None, "seller_id": 1}, "reseller west is at the top of the tree"),
        ({"parent_id": 1, "seller_id": 2}, "is held with the reseller above it (acme), not with south"),
        ({"parent_id": 1, "seller_id": 1, "held_ref": "wown"}, "reseller west already has its own account (wown)"),
    ],
)
def test_the_own_account_rule(given, says):
    problem = own_account_problem(owner_ref="west", parent_ref="acme", seller_ref="south", **given)
    assert (says in problem) if says else problem == ""


# The service ----------------------------------------------------------------------


@pytest.fixture
def world(portal):
    portal(
        [order("ow1", EXPIRES, customer="wown"), order("o1", EXPIRES, customer="c1")],
        resellers=RESELLERS,
        customers=CUSTOMERS,
    )
    return {
        **{r.ref: r for r in Reseller.objects.all()},
        **{c.ref: c for c in Customer.objects.all()},
    }


@pytest.fixture
def owned(world):
    customer_set_owner_reseller(actor=Actor.system("test"), customer_id=world["wown"].pk, owner=world["west"])
    return world


def test_an_admin_makes_an_account_a_resellers_own_audited(world):
    admin = UserFactory(username="ops", is_staff=True, is_superuser=True)
    actor = Actor(kind="platform", label="ops", user=admin)

    assert customer_set_owner_reseller(actor=actor, customer_id=world["wown"].pk, owner=world["west"], reason="x")
    assert not customer_set_owner_reseller(actor=actor, customer_id=world["wown"].pk, owner=world["west"])

    assert Customer.objects.get(ref="wown").owner_reseller == world["west"]
    event = AuditEvent.objects.get(action="customer.owner_reseller")
    assert (event.actor_label, event.before, event.after, event.reason) == ("ops", None, "west", "x")
    # and back: no longer anyone's
    assert customer_set_owner_reseller(actor=actor, customer_id=world["wown"].pk, owner=None)
    assert Customer.objects.get(ref="wown").owner_reseller is None


@pytest.mark.parametrize(
    ("customer", "owner", "says"),
    [
        ("c1", "acme", "reseller acme is at the top of the tree: its own account would be held with the platform"),
        ("c1", "south", "the own account of reseller south is held with the reseller above it (acme), not with west"),
        ("top", "west", "the own account of reseller west is held with the reseller above it (acme), not with west"),
    ],
)
def test_an_own_account_the_rule_refuses_changes_nothing(world, customer, owner, says):
    with pytest.raises(DomainError) as refused:
        customer_set_owner_reseller(actor=Actor.system("test"), customer_id=world[customer].pk, owner=world[owner])
    assert says in str(refused.value)
    assert refused.value.code == "invalid_own_account"
    assert Customer.objects.get(ref=customer).owner_reseller_id is None
    assert not AuditEvent.objects.filter(action="customer.owner_reseller").exists()


def test_a_second_own_account_is_refused(owned):
    second = Customer.objects.create(ref="wown2", name="Second", reseller=owned["acme"])
    with pytest.raises(DomainError, match=r"reseller west already has its own account \(wown\)"):
        customer_set_owner_reseller(actor=Actor.system("test"), customer_id=second.pk, owner=owned["west"])


def test_only_a_platform_admin_says_whose_account_it_is(world):
    for login in (member(reseller=world["acme"], username="acme"), member(customer=world["wown"], username="w")):
        with pytest.raises(DomainError) as refused:
            customer_set_owner_reseller(actor=actor_for_user(login), customer_id=world["wown"].pk, owner=world["west"])
        assert refused.value.code == "forbidden"
    with pytest.raises(NotFound):
        customer_set_owner_reseller(actor=Actor.system("test"), customer_id=10**9, owner=world["west"])
    assert Customer.objects.get(ref="wown").owner_reseller is None


# The nightly run ------------------------------------------------------------------


def test_a_resellers_own_order_renews_in_the_nightly_run_invoiced_by_the_upper_reseller(owned, run):
    # When the night of 2026-11-28 runs (ow1 is due: 7 days' window)
    report = run(D(2026, 11, 28))

    # Then ow1 renewed, paid from the own account, on an invoice in acme's series
    batch = next(b for b in report["batches"] if b["customer"] == "wown")
    assert (batch["outcome"], batch["orders"], batch["total"]) == ("renewed", ["ow1"], "10.00")
    invoice = Invoice.objects.get(customer=owned["wown"])
    assert invoice.reseller_id == owned["acme"].pk
    assert invoice.number == f"{owned['acme'].invoice_prefix}-2026-000001"
    assert Order.objects.get(ref="ow1").expires_on == D(2027, 1, 1)
    assert Account.objects.get(pk=owned["wown"].pk).balance == Decimal("40.00")
    # The notices go to the own account's address, like any account's
    assert Notice.objects.filter(customer=owned["wown"], kind="renewal_succeeded", recipient="ops@west.test").exists()
    # West's own customer's invoice is in west's series: the two sellers are not mixed up
    assert Invoice.objects.get(customer=owned["c1"]).number.startswith(owned["west"].invoice_prefix)


# The admin --------------------------------------------------------------------------


@pytest.fixture
def staff(client, world):
    client.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))
    return client


def change_form(customer: Customer, **changes) -> dict:
    data = {
        "ref": customer.ref,
        "name": customer.name,
        "email": customer.email,
        "reseller": customer.reseller_id,
        "allow_auto_renew": "on",
        "owner_reseller": "",
    }
    return {**data, **changes}


def test_the_admin_sets_the_owner_through_the_service(staff, world):
    wown = world["wown"]
    response = staff.post(url(Customer, "change", wown.pk), change_form(wown, owner_reseller=world["west"].pk))
    assert response.status_code == 302
    assert Customer.objects.get(pk=wown.pk).owner_reseller == world["west"]
    assert AuditEvent.objects.get(action="customer.owner_reseller").actor_label == "ops"
    assert "Acme West" in staff.get(url(Customer, "changelist")).content.decode()


def test_the_admin_shows_the_rules_sentence_and_saves_nothing(staff, world):
    c1 = world["c1"]
    response = staff.post(url(Customer, "change", c1.pk), change_form(c1, owner_reseller=world["acme"].pk, name="X"))
    assert response.status_code == 200
    assert "reseller acme is at the top of the tree" in response.content.decode()
    stored = Customer.objects.get(pk=c1.pk)
    assert (stored.owner_reseller_id, stored.name) == (None, "Jane Doe")


def test_the_admin_adds_an_own_account_with_its_account(staff, world):
    data = change_form(world["wown"], ref="sown", name="Acme South (own)", email="", owner_reseller=world["south"].pk)
    data["reseller"] = world["acme"].pk
    assert staff.post(url(Customer, "add"), data).status_code == 302
    added = Customer.objects.get(ref="sown")
    assert added.owner_reseller == world["south"]
    assert Account.objects.filter(pk=added.pk).exists()
