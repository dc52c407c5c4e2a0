"""Failure notices are never spam: once per cycle, and at the last chance."""

import datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction

from notifications.models import Notice
from orders.models import Order
from renewals.manual import renewal_pay, renewal_quote
from tenants.models import Customer
from tenants.scope import Actor, ActorKind
from tests.renewals.conftest import order

D = datetime.date


def night(day: datetime.date) -> None:
    call_command("run_renewals", "--date", day.isoformat(), verbosity=0)


@pytest.fixture
def failing(portal):
    """An order due from Dec 3 to its expiry on Dec 10, with no funds."""
    portal(
        [order("o1", D(2026, 12, 10))],
        resellers=[{"ref": "r1", "name": "Acme", "email": "billing@acme.test"}],
        customers=[{"ref": "c1", "name": "Jane", "email": "jane@example.test", "reseller": "r1", "balance": "0.00"}],
    )


def kinds(recipient: str) -> list[tuple[str, datetime.date]]:
    return list(
        Notice.objects.filter(recipient=recipient)
        .exclude(kind__in=["advance_notice", "renewal_reminder"])
        .order_by("business_date", "kind")
        .values_list("kind", "business_date")
    )


@pytest.mark.django_db
def test_three_failing_nights_give_one_failure_and_one_last_chance_notice(failing):
    for day in (D(2026, 12, 8), D(2026, 12, 9), D(2026, 12, 10)):
        night(day)
        night(day)  # the nightly work twice: nothing twice
    assert kinds("jane@example.test") == [
        ("renewal_failed", D(2026, 12, 8)),
        ("renewal_last_chance", D(2026, 12, 10)),
    ]
    # The reseller hears on the first failure and at the last chance, not every night.
    assert kinds("billing@acme.test") == [("reseller_failure", D(2026, 12, 8)), ("reseller_failure", D(2026, 12, 10))]


@pytest.mark.django_db
def test_a_first_failure_on_the_expiry_day_sends_the_last_chance_alone(failing):
    night(D(2026, 12, 10))
    assert kinds("jane@example.test") == [("renewal_last_chance", D(2026, 12, 10))]


@pytest.mark.django_db
def test_a_rolled_back_renewal_sends_nothing(portal):
    portal(
        [order("o1", D(2026, 12, 10), auto_renew=False)],
        customers=[{"ref": "c1", "name": "J", "email": "j@x.test", "reseller": "r1", "balance": "50.00"}],
    )
    jane = Actor(kind=ActorKind.CUSTOMER, label="j", customer_id=Customer.objects.get().pk)
    quote = renewal_quote(actor=jane, items=[(Order.objects.get().pk, 1)])

    def pay_then_fail():
        with transaction.atomic():
            renewal_pay(actor=jane, quote=quote, on=D(2026, 12, 5))
            raise RuntimeError("the request died after paying")

    with pytest.raises(RuntimeError):
        pay_then_fail()
    assert not Notice.objects.exists()
    assert Order.objects.get().expires_on == D(2026, 12, 10)
    assert Customer.objects.get().account.balance == Decimal("50.00")
