"""Every admin action and every money movement has its audit record with who
acted and from which address (core.net.client_address: the trusted proxies
decide); the nightly run's records say "system" and have no address."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from audit.models import AuditEvent
from balances.models import Account, EntryKind, LedgerEntry
from core.request_context import current_address, serving
from orders.models import Order
from renewals.manual import renewal_pay, renewal_quote
from renewals.sweep.run import sweep_run
from tenants.models import Customer
from tenants.scope import Actor, ActorKind
from tests.factories import UserFactory
from tests.renewals.conftest import order

D = datetime.date
ON = D(2026, 12, 5)
CLIENT = "203.0.113.9"
PROXY = "10.0.0.2"

pytestmark = pytest.mark.django_db


def customers(n):
    return [
        {"ref": f"c{i}", "name": f"Customer {i}", "email": f"c{i}@x.test", "reseller": "r1", "balance": "50.00"}
        for i in range(1, n + 1)
    ]


def test_a_record_takes_the_address_of_the_request_being_served():
    with serving(CLIENT):
        assert AuditEvent(action="x").address == CLIENT
        with serving(None):
            assert current_address() is None
        assert current_address() == CLIENT
    assert AuditEvent(action="x").address is None


def test_each_debit_of_the_nightly_sweep_has_its_record_by_system_without_an_address(portal):
    # given: three accounts due; c3's order already paid ahead
    portal(
        [order("o1", D(2026, 12, 10), customer="c1"), order("o2", D(2026, 12, 10), customer="c2")]
        + [order("o3", D(2027, 3, 10), customer="c3")],
        customers=customers(3),
    )

    # when: the nightly run (Celery beat's task runs it with the system actor)
    sweep_run(on=ON, build_report=False)

    # then: one record per debit, naming the customer and the invoice, by system, no address
    debits = LedgerEntry.objects.filter(kind=EntryKind.RENEWAL).select_related("account__customer")
    assert len(debits) == 2
    records = AuditEvent.objects.filter(action="ledger.renewal")
    assert sorted((r.target_id, r.reason, r.actor_label, r.actor_id, r.address) for r in records) == sorted(
        (d.account.customer_id, d.reference, "system", None, None) for d in debits
    )
    assert [(r.before, r.after) for r in records] == [("50.00", "40.00")] * 2


def test_a_manual_renewal_in_grace_records_the_clients_address_on_each_record(portal):
    # given: c1's order suspended in its grace
    portal([order("o1", D(2026, 11, 28), status="suspended")], customers=customers(1))
    jane = Actor(kind=ActorKind.CUSTOMER, label="jane", customer_id=Customer.objects.get(ref="c1").pk)
    quote = renewal_quote(actor=jane, items=[(Order.objects.get(ref="o1").pk, 1)])

    # when: paid while serving the customer's request
    with serving(CLIENT):
        renewal_pay(actor=jane, quote=quote, on=ON)

    # then: the debit's record (a set-based insert) and the restoration's both carry it
    records = dict(AuditEvent.objects.filter(actor_label="jane").values_list("action", "address"))
    assert records == {"ledger.renewal": CLIENT, "order.status": CLIENT}


# --- Admin actions, through Django admin ---


@pytest.fixture
def ops(client, settings):
    settings.ADMIN_OTP_REQUIRED = False  # the second factor has its own tests
    user = UserFactory(username="ops", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


@pytest.fixture
def account(portal):
    portal([order("o1", D(2027, 3, 10))], customers=customers(1))
    return Account.objects.get(customer__ref="c1")


# (trusted proxies, REMOTE_ADDR, X-Forwarded-For) -> the address recorded
SOURCES = {
    "direct": (0, CLIENT, None),
    "spoofed header ignored": (0, CLIENT, "6.6.6.6"),
    "through a trusted proxy": (1, PROXY, f"6.6.6.6, {CLIENT}"),
}


def source(settings, name):
    proxies, remote, forwarded = SOURCES[name]
    settings.TRUSTED_PROXY_COUNT = proxies
    return {"REMOTE_ADDR": remote, **({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {})}


def adjust(client, account, amount: str, reason: str, **request):
    data = {"action": "post_adjustment", ACTION_CHECKBOX_NAME: [account.pk], "amount": amount, "reason": reason}
    return client.post(reverse("admin:balances_account_changelist"), {**data, "apply": "1"}, **request)


@pytest.mark.parametrize("via", SOURCES)
def test_an_admins_balance_adjustment_records_the_admin_and_the_clients_address(
    client, ops, account, settings, via, assert_invariants
):
    # when: the admin action "Post a balance adjustment" is applied
    response = adjust(client, account, "-5.50", "goodwill reversal", **source(settings, via))

    # then: posted, and its record says who and from where
    assert response.status_code == 302
    assert Account.objects.get(pk=account.pk).balance == Decimal("44.50")
    record = AuditEvent.objects.get(action="ledger.adjustment")
    assert (record.actor_label, record.actor_id, record.address) == ("ops", ops.pk, CLIENT)
    assert (record.before, record.after, record.reason) == ("50.00", "44.50", "goodwill reversal")
    assert_invariants()


def test_the_audit_list_shows_the_address_and_finds_records_by_it(client, ops, account):
    # given: the import's records (no address) and an adjustment from CLIENT
    adjust(client, account, "1.00", "x", REMOTE_ADDR=CLIENT)

    # when: the audit log is searched for the address
    page = client.get(reverse("admin:audit_auditevent_changelist"), {"q": CLIENT})

    # then: that record alone, with its address in the list
    assert page.status_code == 200
    assert [(e.action, e.address) for e in page.context["cl"].result_list] == [("ledger.adjustment", CLIENT)]
    assert "column-address" in page.content.decode()
