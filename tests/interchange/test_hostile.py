"""A hostile import file (manage.py import_portal): each bad value is listed by
its path, the command exits 1 and nothing is written; never a traceback.

``doc`` is SPEC.md's example (tests/interchange/conftest.py): reseller r1,
category hosting, plan basic, customer c1, order o1.
"""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.models import Plan
from tenants.models import Customer, Reseller

BIG = 10**400
pytestmark = pytest.mark.django_db


def errors_of(path) -> str:
    with pytest.raises(CommandError) as exc:
        call_command("import_portal", path)
    assert exc.value.returncode == 1
    return str(exc.value)


def nothing_written():
    return not (Reseller.objects.exists() or Plan.objects.exists() or Customer.objects.exists())


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["orders"][0].update(tenure_months=BIG), "orders[0].tenure_months: must be at most 2147483647"),
        (lambda d: d["orders"][0].update(tenure_months=-BIG), "orders[0].tenure_months: must be at most 2147483647"),
        (lambda d: d["orders"][0].update(tenure_months="٣"), "orders[0].tenure_months: must be a whole number"),
        (lambda d: d["orders"][0].update(anchor_day=BIG), "orders[0].anchor_day: must be at most 2147483647"),
        (lambda d: d["categories"][0].update(grace_days=BIG), "categories[0].grace_days: must be at most"),
        (lambda d: d["plans"][0].update(lead_days=5000), "plans[0].lead_days: must be from 0 to 3650"),
        (lambda d: d["plans"][0]["prices"].update({"²": "1.00"}), 'plans[0].prices["²"]: the tenure must be'),
        (lambda d: d["plans"][0]["prices"].update({"٣": "1.00"}), 'plans[0].prices["٣"]: the tenure must be'),
        (lambda d: d["plans"][0]["prices"].update({str(BIG): "1.00"}), 'plans[0].prices["1000000000'),
        (lambda d: d["plans"][0]["prices"].update({"1": "١٠"}), 'plans[0].prices["1"]: not an amount'),
        (lambda d: d["plans"][0]["prices"].update({"1": "NaN"}), 'plans[0].prices["1"]: not an amount'),
        (lambda d: d["plans"][0]["prices"].update({"1": "Infinity"}), 'plans[0].prices["1"]: not an amount'),
        (lambda d: d["plans"][0]["prices"].update({"1": "1e309"}), 'plans[0].prices["1"]: not an amount'),
        (lambda d: d["customers"][0].update(balance=str(BIG)), "customers[0].balance: amount too large"),
        (lambda d: d["customers"][0].update(balance="-" + str(BIG)), "customers[0].balance: amount too large"),
        (lambda d: d["customers"][0].update(name="Jane\x00Doe"), "customers[0].name: must not contain a null"),
        (lambda d: d["customers"][0].update(ref="c\x001"), "customers[0].ref: must not contain a null"),
        (lambda d: d["customers"][0].update(name="x" * 1_000_000), "customers[0].name: must be at most 200"),
        (lambda d: d["resellers"][0].update(ref="r" * 101), "resellers[0].ref: must be at most 100"),
        (lambda d: d["resellers"][0].update(email="a@" + "b" * 300), "resellers[0].email: must be at most 254"),
        (lambda d: d["customers"][0].update(stripe_customer_id="c" * 101), "stripe_customer_id: must be at most 100"),
    ],
    ids=lambda value: "" if callable(value) else value[:40],
)
def test_a_hostile_value_is_listed_by_its_path_and_nothing_is_written(doc, write, mutate, expected):
    mutate(doc)

    assert expected in errors_of(write(doc))
    assert nothing_written()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[" * 100_000, "file: nested more than 32 levels deep"),
        ('{"format": "renewal-portal/v1", "customers": [{"balance": NaN}]}', "file: NaN is not a number"),
        ('{"format": "renewal-portal/v1", "orders": [{"tenure_months": Infinity}]}', "file: Infinity is not"),
        ('{"format": "renewal-portal/v1", "orders": [{"tenure_months": 1e309}]}', "file: a number too large"),
        ('{"format": "renewal-portal/v1", "orders": [{"tenure_months": 1' + "0" * 5000 + "}]}", "file: not valid"),
    ],
    ids=["too-deep", "nan", "infinity", "float-overflow", "5000-digits"],
)
def test_a_hostile_file_is_refused_whole(write, text, expected):
    assert expected in errors_of(write(text))
    assert nothing_written()
