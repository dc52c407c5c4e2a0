import datetime
from collections import Counter
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse

from balances.models import Account
from catalog.models import Category
from demo.builder import build_demo_document
from interchange.document import validate_document
from invoices.models import Invoice
from orders.models import Order
from renewals.invariants import invariant_violations
from renewals.models import OpenRenewal, OpenRenewalStatus
from tenants.models import Customer, Reseller
from tenants.scope import ActorKind, actor_for_user

TODAY = datetime.date(2026, 11, 25)


def test_the_demo_document_is_a_valid_file():
    document, errors = validate_document(build_demo_document(TODAY))
    assert errors == []
    assert len(document.customers) == 34
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
    for login in ("admin / admin", "reseller / reseller", "customer / customer", "kenji / kenji", "west / west"):
        assert login in out
    assert Reseller.objects.filter(parent__isnull=False).count() == 2  # sub-resellers: Acme West, Acme Japan
    assert Customer.objects.count() == 34
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
        ("west", ActorKind.RESELLER),
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


@pytest.mark.django_db
def test_the_demo_shows_each_per_order_setting(client):
    """SPEC "Per-order settings, open renewals, resellers as customers", one
    of each in the demo: an individual price returning to the plan's, an
    order's own auto-renew point, open renewals waiting for payment, a
    sub-reseller's own account with a standing renewal day and a login, and
    certificates that ask for a CSR naming their domain."""
    call_command("seed_demo", "--date", TODAY.isoformat(), verbosity=0)
    deal = Order.objects.get(ref="c001-o13")
    assert (deal.individual_price, deal.after_renewal, deal.plan.ref) == (Decimal("99.00"), "plan", "hosting-business")
    own_point = Order.objects.get(ref="c001-o14")
    assert (own_point.lead_days, own_point.expires_on - TODAY) == (14, datetime.timedelta(days=12))
    # Open renewals: as the night opens them, priced by the quote path (the
    # individual price; the order due under its own 14 days, not its plan's 7).
    waiting = dict(OpenRenewal.objects.filter(status=OpenRenewalStatus.OPEN).values_list("order__ref", "amount"))
    assert waiting["c001-o13"] == Decimal("99.00")
    assert waiting["c001-o14"] == Decimal("20.00")
    assert waiting["c034-o02"] == Decimal("12.99")  # auto-renew off: paid by hand
    assert len(waiting) > 20
    own = Customer.objects.select_related("account", "reseller", "owner_reseller").get(ref="c034")
    assert (own.owner_reseller.ref, own.reseller.ref, own.account.renewal_day) == ("acme-west", "acme", 15)
    ssl = Category.objects.get(ref="ssl")
    assert ssl.renewal_needs_csr
    certificates = Order.objects.filter(plan__category=ssl)
    assert certificates.exists()
    assert not certificates.filter(domain="").exists()
    assert Order.objects.get(ref="c034-o02").domain == "acme-west.example"
    # The sub-reseller's staff see its own orders.
    assert client.login(username="west", password="west")
    page = client.get(reverse("reseller-our-orders"))
    assert page.status_code == 200
    for ref in ("c034-o01", "c034-o02", "c034-o03"):
        assert ref in page.content.decode()
    assert invariant_violations() == []


@pytest.mark.django_db
def test_the_demos_night_renews_the_sub_resellers_own_order_invoiced_by_the_reseller_above(settings):
    settings.SWEEP_WORKERS = 1
    call_command("seed_demo", "--date", TODAY.isoformat(), verbosity=0)
    call_command("run_renewals", "--date", TODAY.isoformat(), "--no-progress", verbosity=0)
    renewed = Order.objects.get(ref="c034-o01")
    assert renewed.expires_on == datetime.date(2027, 12, 20)  # paid thru 2026-12-20, 12 months on
    invoice = Invoice.objects.get(customer__ref="c034")
    assert (invoice.reseller.ref, invoice.number.split("-")[0], invoice.total) == ("acme", "ACME", Decimal("129.00"))
    closed = OpenRenewal.objects.get(order=renewed)
    assert (closed.status, closed.invoice_id) == (OpenRenewalStatus.CLOSED, invoice.pk)
    assert invariant_violations() == []
