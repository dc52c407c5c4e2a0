"""The import keys of SPEC "Per-order settings, open renewals, resellers as
customers": an order's own `lead_days`, `individual_price`, `after_renewal`
and `domain`; a customer's `renewal_day` and `owner_reseller`; a category's
`renewal_needs_csr`. Each is imported, checked with its path, written back by
the export, and an export of a portal using all of them imports again
changing nothing.
"""

import datetime
from decimal import Decimal

import pytest

from audit.models import AuditEvent
from balances.models import Account
from catalog.models import Category
from orders.models import Order
from renewals.facts import load_catalog
from renewals.models import OpenRenewal, OpenRenewalStatus
from renewals.open import open_renewals_sync
from tenants.models import Customer
from tests.interchange.test_import import errors_of, load

pytestmark = pytest.mark.django_db


def every_key(doc):
    """The SPEC example plus: a sub-reseller r2 of r1 whose own account (c2) is
    held with r1; an SSL category that asks for a CSR; an SSL order with a
    domain and its own auto-renew point; an individual price returning to the
    plan's after its renewal; a yen customer with an individual price and a
    standing renewal day.

    customers: c1, c2 (own account of r2), c3 (JPY); orders: o1 (c1), o2 (c2,
    SSL), o3 (c3, yen)."""
    doc["resellers"].append({"ref": "r2", "name": "Acme West", "email": "west@acme.test", "parent": "r1"})
    doc["categories"].append(
        {"ref": "ssl", "name": "SSL", "grace_days": 7, "auto_renew_supported": False, "renewal_needs_csr": True}
    )
    doc["plans"].append({"ref": "cert", "name": "DV certificate", "category": "ssl", "prices": {"12": "15.00"}})
    doc["plans"].append(
        {"ref": "yen", "name": "Yen plan", "category": "hosting", "currency": "JPY", "prices": {"1": "1000"}}
    )
    doc["customers"][0]["renewal_day"] = 15
    doc["customers"].append(
        {"ref": "c2", "name": "Acme West", "email": "west@acme.test", "reseller": "r1", "owner_reseller": "r2"}
    )
    doc["customers"].append({"ref": "c3", "name": "Ken", "reseller": "r2", "currency": "JPY", "renewal_day": 31})
    doc["orders"][0].update(lead_days=5, individual_price="8.50", after_renewal="plan")
    doc["orders"].append(
        {
            "ref": "o2",
            "customer": "c2",
            "plan": "cert",
            "tenure_months": 12,
            "expires_on": "2027-03-01",
            "domain": "shop.example.test",
            "lead_days": 20,
        }
    )
    doc["orders"].append(
        {
            "ref": "o3",
            "customer": "c3",
            "plan": "yen",
            "tenure_months": 1,
            "expires_on": "2026-12-20",
            "individual_price": "900",
        }
    )
    return doc


def test_every_new_key_is_imported(doc, write, assert_invariants):
    load(write(every_key(doc)))
    o1, o2, o3 = Order.objects.order_by("ref")
    assert (o1.lead_days, o1.individual_price, o1.after_renewal, o1.domain) == (5, Decimal("8.50"), "plan", "")
    assert (o2.lead_days, o2.individual_price, o2.after_renewal, o2.domain) == (20, None, "keep", "shop.example.test")
    assert (o3.individual_price, o3.after_renewal) == (Decimal("900"), "keep")
    assert dict(Account.objects.values_list("customer__ref", "renewal_day")) == {"c1": 15, "c2": None, "c3": 31}
    own = Customer.objects.select_related("reseller", "owner_reseller").get(ref="c2")
    assert (own.owner_reseller.ref, own.reseller.ref) == ("r2", "r1")
    assert dict(Category.objects.values_list("ref", "renewal_needs_csr")) == {"hosting": False, "ssl": True}
    assert_invariants()


def test_the_defaults_of_the_new_keys(doc, write):
    load(write(doc))  # the SPEC example: none of the new keys
    order = Order.objects.select_related("customer__account", "plan__category").get()
    assert (order.lead_days, order.individual_price, order.after_renewal, order.domain) == (None, None, "keep", "")
    assert order.customer.account.renewal_day is None
    assert order.customer.owner_reseller is None
    assert order.plan.category.renewal_needs_csr is False


def test_an_orders_lead_days_may_be_one_day_short_of_its_tenure(doc, write):
    doc["orders"][0]["lead_days"] = 27  # 1 month at 28 days a month, less a day
    load(write(doc))
    assert Order.objects.get().lead_days == 27


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["orders"][0].update(lead_days=28),
            "orders[0].lead_days: must be shorter than the shortest tenure (1 month(s) = 28 days at 28 days a "
            "month), so at most 27, not 28",
        ),
        (
            # The order's tenure bounds it, not the plan's shortest (which is 1 month).
            lambda d: d["orders"][0].update(tenure_months=3, lead_days=84),
            "orders[0].lead_days: must be shorter than the shortest tenure (3 month(s) = 84 days at 28 days a "
            "month), so at most 83, not 84",
        ),
        (lambda d: d["orders"][0].update(lead_days=-1), "orders[0].lead_days: must be from 0 to 3650, not -1"),
        (lambda d: d["orders"][0].update(lead_days="7"), 'orders[0].lead_days: must be a whole number, not "7"'),
        (
            lambda d: d["orders"][0].update(after_renewal="later"),
            'orders[0].after_renewal: must be one of keep, plan, not "later"',
        ),
        (
            lambda d: d["orders"][0].update(individual_price="9.999"),
            'orders[0].individual_price: "9.999" is finer than USD\'s minor unit (USD has 2 decimal places)',
        ),
        (
            lambda d: d["orders"][0].update(individual_price="-1.00"),
            "orders[0].individual_price: must not be negative (-1.00)",
        ),
        (
            lambda d: d["orders"][0].update(individual_price=9),
            'orders[0].individual_price: must be a string such as "10.00", not int',
        ),
        (
            lambda d: d["orders"][0].update(domain="shop example.test"),
            'orders[0].domain: must be a host name such as "example.com", not "shop example.test"',
        ),
        (
            lambda d: d["orders"][0].update(domain="x" * 254),
            "orders[0].domain: must be at most 253 characters, not 254",
        ),
        (lambda d: d["customers"][0].update(renewal_day=0), "customers[0].renewal_day: must be from 1 to 31, not 0"),
        (lambda d: d["customers"][0].update(renewal_day=32), "customers[0].renewal_day: must be from 1 to 31, not 32"),
        (
            lambda d: d["categories"][0].update(renewal_needs_csr="yes"),
            'categories[0].renewal_needs_csr: must be true or false, not "yes"',
        ),
        (
            lambda d: d["customers"][0].update(owner_reseller="ghost"),
            'customers[0].owner_reseller: unknown reseller "ghost"',
        ),
        (
            lambda d: d["customers"][0].update(owner_reseller="r1"),
            "customers[0].owner_reseller: reseller r1 is at the top of the tree: its own account would be held with "
            "the platform, which sells through resellers only; a reseller's own account is held with the reseller "
            "above it",
        ),
        (
            # r2's own account held with r2 itself, not with r1 above it.
            lambda d: d["customers"][1].update(reseller="r2"),
            "customers[1].owner_reseller: the own account of reseller r2 is held with the reseller above it (r1), "
            "not with r2",
        ),
        (
            lambda d: d["customers"].append(dict(d["customers"][1], ref="c9")),
            "customers[3].owner_reseller: reseller r2 already has its own account (c2): a reseller has one",
        ),
    ],
)
def test_each_new_rule_names_its_path(doc, write, mutate, expected):
    doc = every_key(doc)
    mutate(doc)
    assert expected in errors_of(write(doc))
    assert not Customer.objects.exists()


def test_a_yen_individual_price_is_checked_in_yen(doc, write):
    doc = every_key(doc)
    doc["orders"][2]["individual_price"] = "900.50"
    assert 'orders[2].individual_price: "900.50" is finer than JPY\'s minor unit' in errors_of(write(doc))


def test_a_second_own_account_for_a_reseller_that_has_one_is_refused(doc, write, snapshot):
    load(write(every_key(doc)))
    before = snapshot()
    later = {
        "format": "renewal-portal/v1",
        "customers": [{"ref": "c8", "name": "Acme West again", "reseller": "r1", "owner_reseller": "r2"}],
    }
    message = errors_of(write(later))
    assert "customers[0].owner_reseller: reseller r2 already has its own account (c2): a reseller has one" in message
    assert snapshot() == before


def test_moving_a_reseller_needs_its_own_account_moved_too(doc, write, snapshot):
    doc = every_key(doc)
    doc["resellers"].append({"ref": "r3", "name": "Nimbus", "parent": None})
    load(write(doc))
    before = snapshot()
    moved = {"format": "renewal-portal/v1", "resellers": [dict(doc["resellers"][1], parent="r3")]}
    assert (
        'resellers[0].parent: the own account of "r2" ("c2") is held with "r1"; moving "r2" needs that customer '
        'in the file with reseller "r3"'
    ) in errors_of(write(moved))
    assert snapshot() == before
    moved["customers"] = [dict(doc["customers"][1], reseller="r3")]
    load(write(moved))
    assert Customer.objects.get(ref="c2").reseller.ref == "r3"


def test_an_own_account_changes_hands_within_one_file(doc, write, assert_invariants):
    """c2 lets go of r2's own account and c3 takes it in the same file (the
    link is one to one): both moves are written and audited."""
    doc = every_key(doc)
    load(write(doc))
    doc["customers"][1]["owner_reseller"] = None
    doc["customers"][2].update(reseller="r1", owner_reseller="r2")
    load(write(doc))
    assert dict(Customer.objects.values_list("ref", "owner_reseller__ref")) == {"c1": None, "c2": None, "c3": "r2"}
    changes = AuditEvent.objects.filter(action="customer.owner_reseller")
    assert set(changes.values_list("target_ref", "before", "after", "reason")) == {
        ("c2", "r2", None, "import"),
        ("c3", None, "r2", "import"),
    }
    assert_invariants()


def test_changes_of_the_new_keys_on_reimport_are_audited(doc, write):
    doc = every_key(doc)
    load(write(doc))
    doc["orders"][0].update(lead_days=None, individual_price="9.00", after_renewal="keep", domain="jane.example.test")
    doc["customers"][0]["renewal_day"] = 1
    doc["categories"][1]["renewal_needs_csr"] = False
    load(write(doc))
    audited = {
        e.action: (e.before, e.after, e.actor_label, e.reason)
        for e in AuditEvent.objects.filter(
            action__in=[
                "order.lead_days",
                "order.individual_price",
                "order.after_renewal",
                "order.domain",
                "account.renewal_day",
                "category.renewal_needs_csr",
            ]
        )
    }
    assert audited == {
        "order.lead_days": (5, None, "import", "import"),
        "order.individual_price": ("8.50", "9.00", "import", "import"),
        "order.after_renewal": ("plan", "keep", "import", "import"),
        "order.domain": ("", "jane.example.test", "import", "import"),
        "account.renewal_day": (15, 1, "import", "import"),
        "category.renewal_needs_csr": (True, False, "import", "import"),
    }


def test_export_writes_every_new_key_back(doc, write, export):
    load(write(every_key(doc)))
    data = export()
    assert {c["ref"]: c["renewal_needs_csr"] for c in data["categories"]} == {"hosting": False, "ssl": True}
    assert {c["ref"]: (c["renewal_day"], c["owner_reseller"]) for c in data["customers"]} == {
        "c1": (15, None),
        "c2": (None, "r2"),
        "c3": (31, None),
    }
    keys = ("lead_days", "individual_price", "after_renewal", "domain")
    assert {o["ref"]: tuple(o[k] for k in keys) for o in data["orders"]} == {
        "o1": (5, "8.50", "plan", ""),
        "o2": (20, None, "keep", "shop.example.test"),
        "o3": (None, "900", "keep", ""),  # whole yen, in the account's places
    }


def test_export_then_import_of_every_new_key_changes_nothing(doc, write, export, snapshot, assert_invariants):
    load(write(every_key(doc)))
    before = snapshot()
    exported = export()
    load(write(exported, "export.json"))
    assert snapshot() == before
    assert export() == exported
    assert_invariants()


def test_importing_every_new_key_twice_changes_nothing(doc, write, snapshot):
    path = write(every_key(doc))
    load(path)
    first = snapshot()
    load(path)
    assert snapshot() == first


def test_a_reimport_that_reprices_an_order_cancels_its_open_renewal_until_the_night(doc, write, time_machine):
    """An open renewal is the quote path's price made durable: a file that
    changes the order's price cancels it (one statement), and the night
    opens it again at the new price; a file that changes nothing leaves it."""
    time_machine.move_to("2026-11-28 12:00:00+00:00")
    today = datetime.date(2026, 11, 28)
    doc["orders"][0].update(individual_price="8.50")  # paid thru 2026-12-01: its 7-day window holds
    load(write(doc))
    assert open_renewals_sync(today, load_catalog()) == 1
    load(write(doc))  # the same file: nothing changes
    assert OpenRenewal.objects.get().status == OpenRenewalStatus.OPEN
    doc["orders"][0]["individual_price"] = "7.00"
    load(write(doc))
    cancelled = OpenRenewal.objects.get()
    assert (cancelled.status, cancelled.closed_on) == (OpenRenewalStatus.CANCELLED, today)
    open_renewals_sync(today, load_catalog())
    again = OpenRenewal.objects.get()
    assert (again.status, again.amount) == (OpenRenewalStatus.OPEN, Decimal("7.00"))
