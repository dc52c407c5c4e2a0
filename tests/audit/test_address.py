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

    # then: the adjustment's records alone (the action's, the ledger's), with the address in the list
    assert page.status_code == 200
    assert [(e.action, e.address) for e in page.context["cl"].result_list] == [
        ("admin.post_adjustment", CLIENT),
        ("ledger.adjustment", CLIENT),
    ]
    assert "column-address" in page.content.decode()


# --- Every admin action and admin edit, whatever its service records ---


def test_every_admin_action_leaves_a_record_with_the_admin_and_the_address(client, ops):
    # given: a fault of the nightly work, open
    from core.models import Fault

    fault = Fault.objects.create(stage="sweep", subject="account:1", business_date=ON, error="boom")

    # when: "Mark resolved" (a plain UPDATE in its service) is applied from CLIENT
    data = {"action": "mark_resolved", ACTION_CHECKBOX_NAME: [fault.pk]}
    response = client.post(reverse("admin:core_fault_changelist"), data, REMOTE_ADDR=CLIENT)

    # then: the action's own record names the fault, the admin and the address
    assert response.status_code == 302
    record = AuditEvent.objects.get(action="admin.mark_resolved")
    assert (record.target_type, record.target_id) == ("core.fault", fault.pk)
    assert (record.actor_label, record.actor_id, record.address) == ("ops", ops.pk, CLIENT)


def test_an_actions_intermediate_page_records_nothing_until_it_is_applied(client, ops, account):
    # when: the adjustment's form is only shown
    data = {"action": "post_adjustment", ACTION_CHECKBOX_NAME: [account.pk]}
    page = client.post(reverse("admin:balances_account_changelist"), data, REMOTE_ADDR=CLIENT)

    # then: nothing recorded; applied, the action and the ledger each have theirs, reason included
    assert page.status_code == 200
    assert not AuditEvent.objects.filter(action__startswith="admin.").exists()
    adjust(client, account, "1.00", "goodwill", REMOTE_ADDR=CLIENT)
    assert list(AuditEvent.objects.filter(address=CLIENT).order_by("pk").values_list("action", "reason")) == [
        ("ledger.adjustment", "goodwill"),
        ("admin.post_adjustment", "goodwill"),
    ]


def test_an_admin_edit_of_a_scheduled_task_is_recorded_with_the_address(client, ops):
    # given: the nightly task as the beat schedule's migration made it
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.order_by("pk").first()

    # when: an admin disables it on its change page
    page = client.get(reverse("admin:django_celery_beat_periodictask_change", args=[task.pk]))
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update({"enabled": "", "interval": task.interval_id or "", "crontab": task.crontab_id or ""})
    data = {k: ("" if v is False else v.pk if hasattr(v, "pk") else v) for k, v in data.items()}
    response = client.post(reverse("admin:django_celery_beat_periodictask_change", args=[task.pk]), data,
                           REMOTE_ADDR=CLIENT)  # fmt: skip

    # then: saved, and recorded with what changed
    assert response.status_code == 302, response.context["adminform"].form.errors
    record = AuditEvent.objects.get(action="admin.change")
    assert (record.target_id, record.actor_label, record.address) == (task.pk, "ops", CLIENT)
    assert record.after == [{"changed": {"fields": ["Enabled"]}}]


def test_a_run_started_in_the_admin_is_recorded_with_the_admin_and_the_address(client, ops, account):
    # when: an admin runs the nightly work for a date from the admin's page
    response = client.post(reverse("admin:renewals_sweeprun_run_date"), {"date": "2026-12-05"}, REMOTE_ADDR=CLIENT)

    # then: the run's record says who started it and from where
    assert response.status_code == 200
    record = AuditEvent.objects.get(action="sweep.run")
    assert (record.actor_label, record.address, record.business_date) == ("ops", CLIENT, ON)


def test_an_admin_that_records_each_field_gets_no_summary_row_on_top(client, ops):
    # given: a category, whose admin (AuditedAdmin) records each changed field;
    # the admin site puts its audit mixin first in every admin's bases
    from catalog.models import Category

    category = Category.objects.create(ref="hosting", name="Hosting", grace_days=15)

    # when: an admin changes its grace days on its change page
    url = reverse("admin:catalog_category_change", args=[category.pk])
    data = {"ref": "hosting", "name": "Hosting", "grace_days": "20", "auto_renew_supported": "on"}
    response = client.post(url, data, REMOTE_ADDR=CLIENT)

    # then: the field's own record, before and after, and no admin.change beside it
    assert response.status_code == 302
    assert list(AuditEvent.objects.values_list("action", "before", "after", "address")) == [
        ("category.grace_days", 15, 20, CLIENT)
    ]
