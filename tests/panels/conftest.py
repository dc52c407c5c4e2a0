"""A small portal with three tenants and their logins, for the panels' tests.

Resellers: acme (top), west (under acme), other (a stranger). Customers: c1
of acme (two logins: ``owner`` and ``colleague``), c2 of west, c9 of other
(login ``outsider``). Reseller staff: ``acme``, ``west``, ``other``. Every
password is "pw". Dates are relative to the business day the test runs on.
"""

import datetime
from dataclasses import dataclass

import pytest

from core.dates import business_today
from interchange.importer import portal_import
from orders.models import Order
from tenants.models import Customer, Reseller
from tenants.scope import Actor
from tests.factories import member
from tests.renewals.conftest import order, portal_document


@dataclass
class Tenants:
    today: datetime.date
    orders: dict  # ref -> Order
    customers: dict  # ref -> Customer
    resellers: dict  # ref -> Reseller
    users: dict  # username -> User

    def days(self, n: int) -> datetime.date:
        return self.today + datetime.timedelta(days=n)


def portal(orders, **kwargs):
    portal_import(data=portal_document(orders, **kwargs), actor=Actor.system("test"))


@pytest.fixture
def tenants(db):
    today = business_today()

    def day(n):
        return today + datetime.timedelta(days=n)

    portal(
        [
            order("o1", day(5)),
            order("o2", day(20), tenure=12),
            order("o3", day(40), plan="cert", tenure=12, auto_renew=False),
            order("o4", day(6), customer="c2"),
            order("o9", day(5), customer="c9"),
        ],
        resellers=[
            {"ref": "acme", "name": "Acme Hosting", "email": "billing@acme.test"},
            {"ref": "west", "name": "Acme West", "email": "west@acme.test", "parent": "acme"},
            {"ref": "other", "name": "Other Hosting", "email": "hi@other.test"},
        ],
        customers=[
            {"ref": "c1", "name": "Jane Doe", "email": "jane@example.test", "reseller": "acme", "balance": "100.00"},
            {"ref": "c2", "name": "Wes Tern", "email": "wes@example.test", "reseller": "west", "balance": "0.00"},
            {"ref": "c9", "name": "Olga Other", "email": "olga@example.test", "reseller": "other", "balance": "50.00"},
        ],
    )
    customers = {c.ref: c for c in Customer.objects.all()}
    resellers = {r.ref: r for r in Reseller.objects.all()}
    users = {
        "owner": member(customer=customers["c1"], username="owner", password="pw"),
        "colleague": member(customer=customers["c1"], username="colleague", password="pw"),
        "outsider": member(customer=customers["c9"], username="outsider", password="pw"),
        "acme": member(reseller=resellers["acme"], username="acme", password="pw"),
        "west": member(reseller=resellers["west"], username="west", password="pw"),
        "other": member(reseller=resellers["other"], username="other", password="pw"),
    }
    return Tenants(today, {o.ref: o for o in Order.objects.all()}, customers, resellers, users)
