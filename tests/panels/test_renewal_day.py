"""The standing renewal day in the customer panel: set on the settings page,
it pre-ticks "Renew on a standard renewal day" on the renewal page with that
day, the quote pro rata as the rule prices it; unticked, the renewal keeps the
order's own day.

The portal (tests/panels/conftest.py): c1 holds o1 (Basic, 1 month at 10.00,
expiring in 5 days) and o2 (Basic, 12 months at 100.00, in 20 days)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from balances.models import Account
from invoices.models import Invoice
from orders.models import Order
from renewals.rules import renewal_period
from tests.helpers import hidden_fields, renewal_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(client, tenants):
    client.force_login(tenants.users["owner"])
    return client


def other_day(order) -> int:
    """A day of the month that is not the order's own (and in every month)."""
    return (order.expires_on.day + 9) % 28 + 1


def set_day(client, value: str):
    return client.post(reverse("settings"), {"renewal_day": value}, follow=True).content.decode()


def test_the_settings_page_sets_and_clears_it(owner, tenants):
    page = set_day(owner, "15")
    assert "Manual renewals now align to day 15 of the month by default" in page
    assert "Manual renewals align to day <strong>15</strong> of the month by default." in page
    assert Account.objects.get(pk=tenants.customers["c1"].pk).renewal_day == 15
    assert "Manual renewals no longer align to a standing renewal day." in set_day(owner, "")
    assert Account.objects.get(pk=tenants.customers["c1"].pk).renewal_day is None


@pytest.mark.parametrize("value", ["0", "32", "soon", "٣"])
def test_a_bad_day_is_refused_and_changes_nothing(owner, tenants, value):
    page = set_day(owner, value)
    assert "The renewal day must be" in page
    assert "(a day of the month, or empty for none)" in page
    assert Account.objects.get(pk=tenants.customers["c1"].pk).renewal_day is None


def test_the_renewal_page_aligns_to_it_by_default_pro_rata(owner, tenants):
    o1 = tenants.orders["o1"]
    day = other_day(o1)
    set_day(owner, str(day))
    page = owner.get(reverse("renew"), {"order": o1.pk}).content.decode()
    assert 'name="align" value="on" id="align" checked' in page
    assert f'name="align_day" id="align_day" value="{day}"' in page
    period = renewal_period(expires_on=o1.expires_on, anchor_day=None, months=1, price=Decimal("10.00"),
                            currency="USD", align_day=day)  # fmt: skip
    assert period.extra_days > 0
    assert f"(+{period.extra_days} days pro rata)" in page
    assert f"{period.amount} USD" in page
    # paid as shown: the order runs to the standing day
    form = {**hidden_fields(page), "order": [o1.pk], f"months_{o1.pk}": "1", "align": "on", "align_day": str(day)}
    owner.post(reverse("renew"), {**form, "action": "pay"})
    assert Invoice.objects.get().total == period.amount
    assert Order.objects.get(pk=o1.pk).expires_on == period.end


def test_unticked_the_renewal_keeps_the_orders_own_day(owner, tenants):
    o1 = tenants.orders["o1"]
    set_day(owner, str(other_day(o1)))
    form = renewal_form(owner, {"order": [o1.pk], f"months_{o1.pk}": "1"})  # the box left unticked
    page = owner.post(reverse("renew"), {**form, "action": "quote"}).content.decode()
    assert 'id="align" checked' not in page
    assert "pro rata)" not in page
    assert "Pay 10.00 USD" in page
    form = {**hidden_fields(page), "order": [o1.pk], f"months_{o1.pk}": "1"}
    owner.post(reverse("renew"), {**form, "action": "pay"})
    assert Invoice.objects.get().total == Decimal("10.00")


def test_ticked_without_a_day_says_so(owner, tenants):
    o1 = tenants.orders["o1"]
    response = owner.post(
        reverse("renew"), {"order": [o1.pk], "aligning": "1", "align": "on", "align_day": ""}, follow=True
    )
    assert "Give the day of the month to renew on, or untick the renewal day." in response.content.decode()


def test_without_a_standing_day_nothing_is_ticked(owner, tenants):
    page = owner.get(reverse("renew"), {"order": tenants.orders["o1"].pk}).content.decode()
    assert 'id="align" checked' not in page
    assert 'name="align_day" id="align_day" value=""' in page
