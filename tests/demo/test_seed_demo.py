import datetime
from collections import Counter

import pytest
from django.core.management import call_command

from balances.models import Account
from demo.builder import build_demo_document
from interchange.document import validate_document
from orders.models import Order
from renewals.invariants import invariant_violations
from tenants.models import Customer, Reseller
from tenants.scope import ActorKind, actor_for_user

TODAY = datetime.date(2026, 11, 25)


def test_the_demo_document_is_a_valid_file():
    document, errors = validate_document(build_demo_document(TODAY))
    assert errors == []
    assert len(document.customers) == 33
    assert 250 <= len(document.orders) <= 350
    # A reseller selling in yen, with whole-yen prices and balances.
    yen = [c for c in document.customers if c.currency == "JPY"]
    assert {c.reseller for c in yen} == {"acme-japan"}
    assert len(yen) == 3
    assert {p.ref for p in document.plans if p.currency == "JPY"} == {"jp-hosting", "jp-domain", "jp-vps"}
    assert {o.customer for o in document.orders if o.customer in {c.ref for c in yen}} == {c.ref for c in yen}


@pytest.mark.django_db
def test_seed_demo_builds_a_believable_portal(client, capsys):
    call_command("seed_demo", "--date", TODAY.isoformat())
    out = capsys.readouterr().out
    for login in ("admin / admin", "reseller / reseller", "customer / customer", "kenji / kenji"):
        assert login in out
    assert Reseller.objects.filter(parent__isnull=False).count() == 2  # sub-resellers: Acme West, Acme Japan
    assert Customer.objects.count() == 33
    assert Account.objects.filter(currency="JPY").count() == 3
    statuses = Counter(Order.objects.values_list("status", flat=True))
    assert statuses["suspended"] > 5
    assert statuses["terminated"] > 3
    categories = set(Order.objects.values_list("plan__category__ref", flat=True))
    assert categories == {"hosting", "domain", "vps", "ssl"}
    due_soon = Order.objects.filter(status="active", expires_on__range=(TODAY, TODAY + datetime.timedelta(days=7)))
    assert due_soon.count() > 10
    assert Account.objects.filter(credit_limit__gt=0).exists()
    assert invariant_violations() == []
    # The fixed logins work and land in the right tenant.
    assert client.login(username="admin", password="admin")
    for username, kind in (
        ("reseller", ActorKind.RESELLER),
        ("customer", ActorKind.CUSTOMER),
        ("kenji", ActorKind.CUSTOMER),
    ):
        assert client.login(username=username, password=username)
        from django.contrib.auth import get_user_model

        assert actor_for_user(get_user_model().objects.get(username=username)).kind == kind


@pytest.mark.django_db
def test_seed_demo_twice_is_harmless():
    call_command("seed_demo", "--date", TODAY.isoformat(), verbosity=0)
    orders = Order.objects.count()
    call_command("seed_demo", "--date", TODAY.isoformat(), verbosity=0)
    assert Order.objects.count() == orders
    assert invariant_violations() == []


@pytest.mark.django_db
def test_seed_demo_saves_test_cards_at_the_configured_stripe(stripe_on, capsys):
    from payments.models import Card

    call_command("seed_demo", "--date", TODAY.isoformat())
    assert "Saved test cards at Stripe" in capsys.readouterr().out
    first = set(Card.objects.values_list("stripe_payment_method_id", flat=True))
    assert Card.objects.filter(is_default=True).count() == 6
    assert Card.objects.get(account__customer__ref="c001").last4 == "4242"
    call_command("seed_demo", "--date", TODAY.isoformat(), verbosity=0)  # again: fresh ids, no stale ones
    again = set(Card.objects.values_list("stripe_payment_method_id", flat=True))
    assert len(again) == 6
    assert not first & again
    assert invariant_violations() == []
