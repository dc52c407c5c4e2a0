"""Django admin keeps amounts to their currency's minor unit and shows them so
(SPEC "Money"), on the demo portal's yen customers of Acme Japan."""

from decimal import Decimal

import pytest
from django.core.management import call_command

from balances.models import Account, LedgerEntry
from catalog.models import Plan
from tests.admin.test_admin import act, url
from tests.admin.test_order_actions import plan_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(client, db):
    call_command("seed_demo", "--date", "2026-11-25", verbosity=0)
    client.login(username="admin", password="admin")
    return client


def test_a_yen_adjustment_finer_than_a_yen_is_refused(ops, assert_invariants):
    kenji = Account.objects.get(customer__ref="c031")
    response = act(ops, Account, "post_adjustment", [kenji], amount="10.5", reason="x", apply="1")
    assert "31: 10.5 is finer than JPY&#x27;s minor unit (JPY has no minor unit: whole amounts only)" in (
        response.content.decode()
    )
    act(ops, Account, "post_adjustment", [kenji], amount="500", reason="Goodwill", apply="1")
    assert LedgerEntry.objects.filter(account=kenji).latest("pk").amount == Decimal("500")
    assert_invariants()


def test_the_lists_show_each_currencys_places(ops):
    accounts = ops.get(url(Account, "changelist"), {"q": "c031"}).content.decode()
    assert ">12000<" in accounts  # Kenji's balance in whole yen
    assert "12000.000" not in accounts
    entries = ops.get(url(LedgerEntry, "changelist"), {"q": "c031"}).content.decode()
    assert ">12000<" in entries
    plans = ops.get(url(Plan, "changelist")).content.decode()
    assert "1 mo: 550, 3 mo: 1540, 12 mo: 5500" in plans
    assert "1 mo: 4.99," in plans


def test_a_yen_price_finer_than_a_yen_is_refused(ops):
    plan = Plan.objects.get(ref="jp-hosting")
    one = plan.prices.get(months=1)
    response = ops.post(url(Plan, "change", plan.pk), plan_post(plan, {one.pk: (1, "550.50", False)}))
    assert response.status_code == 200
    assert "The 1-month price 550.50 is finer than JPY&#x27;s minor unit" in response.content.decode()
    assert plan.prices.get(months=1).amount == Decimal("550")
