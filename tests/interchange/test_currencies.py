"""Import and export keep each amount to its currency's minor unit (SPEC
"Money"): yen without decimals, dinars with three; finer is refused by path."""

from decimal import Decimal

import pytest

from balances.models import Account, LedgerEntry
from catalog.models import PlanPrice
from tests.interchange.test_import import errors_of, load

pytestmark = pytest.mark.django_db


def multi_currency(doc):
    """The SPEC example plus a yen plan and customer and a dinar plan and
    customer, each with an order (plans[1] is JPY, plans[2] KWD)."""
    doc["plans"].append(
        dict(doc["plans"][0], ref="yen", name="Yen plan", currency="JPY", prices={"1": "1000", "12": "11000"})
    )
    doc["plans"].append(
        dict(doc["plans"][0], ref="dinar", name="Dinar plan", currency="KWD", prices={"1": "1.500", "12": "16.250"})
    )
    doc["customers"].append(
        dict(doc["customers"][0], ref="c2", currency="JPY", balance="5000", credit_limit="1000", email="ken@x.test")
    )
    doc["customers"].append(
        dict(doc["customers"][0], ref="c3", currency="KWD", balance="2.125", credit_limit="0.500", email="ali@x.test")
    )
    doc["orders"].append(dict(doc["orders"][0], ref="o2", customer="c2", plan="yen"))
    doc["orders"].append(dict(doc["orders"][0], ref="o3", customer="c3", plan="dinar"))
    return doc


def test_a_fractional_yen_price_is_refused_by_its_path(doc, write):
    doc = multi_currency(doc)
    # The yen plan third, as plans[2].
    doc["plans"][1], doc["plans"][2] = doc["plans"][2], doc["plans"][1]
    doc["plans"][2]["prices"]["1"] = "1000.50"
    message = errors_of(write(doc))
    assert (
        'plans[2].prices["1"]: "1000.50" is finer than JPY\'s minor unit (JPY has no minor unit: whole amounts only)'
    ) in message
    assert not PlanPrice.objects.exists()


@pytest.mark.parametrize(
    ("index", "key", "value", "expected"),
    [
        (1, "balance", "10.5", 'customers[1].balance: "10.5" is finer than JPY\'s minor unit'),
        (1, "credit_limit", "0.01", 'customers[1].credit_limit: "0.01" is finer than JPY\'s minor unit'),
        (2, "balance", "2.1255", 'customers[2].balance: "2.1255" is finer than KWD\'s minor unit (KWD has 3 decimal'),
        (0, "balance", "50.001", 'customers[0].balance: "50.001" is finer than USD\'s minor unit (USD has 2 decimal'),
    ],
)
def test_a_customers_amounts_are_checked_in_its_currency(doc, write, index, key, value, expected):
    doc = multi_currency(doc)
    doc["customers"][index][key] = value
    assert expected in errors_of(write(doc))
    assert not Account.objects.exists()


def test_whole_amounts_with_trailing_zeros_are_the_same_yen(doc, write):
    doc = multi_currency(doc)
    doc["plans"][1]["prices"]["1"] = "1000.00"
    load(write(doc))
    assert PlanPrice.objects.get(plan__ref="yen", months=1).amount == Decimal("1000")


def test_export_writes_each_currencys_places_and_reimports_unchanged(doc, write, export, snapshot, assert_invariants):
    load(write(multi_currency(doc)))
    data = export()
    prices = {p["ref"]: p["prices"] for p in data["plans"]}
    assert prices == {
        "basic": {"1": "10.00", "3": "27.00", "12": "100.00"},
        "yen": {"1": "1000", "12": "11000"},
        "dinar": {"1": "1.500", "12": "16.250"},
    }
    balances = {c["ref"]: (c["balance"], c["ledger_total"], c["credit_limit"]) for c in data["customers"]}
    assert balances == {
        "c1": ("50.00", "50.00", "0.00"),
        "c2": ("5000", "5000", "1000"),
        "c3": ("2.125", "2.125", "0.500"),
    }
    before = snapshot()
    load(write(data, "export.json"))
    assert snapshot() == before
    assert LedgerEntry.objects.count() == 3  # the openings, nothing posted again
    assert_invariants()
