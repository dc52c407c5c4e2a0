from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import call_command
from django.urls import reverse

from audit.models import AuditEvent
from balances.models import Account, LedgerEntry
from orders.models import Order
from tenants.models import Customer, Reseller

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    call_command("seed_demo", "--date", "2026-11-25", verbosity=0)


@pytest.fixture
def staff(client, demo):
    client.login(username="admin", password="admin")
    return client


def url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda m: m._meta.label)
def test_every_model_has_a_working_list(staff, model):
    assert staff.get(url(model, "changelist")).status_code == 200
    assert staff.get(url(model, "changelist"), {"q": "c001"}).status_code == 200


@pytest.mark.parametrize("model", [Order, Account, LedgerEntry, AuditEvent], ids=lambda m: m._meta.label)
def test_detail_pages_open(staff, model):
    obj = model.objects.first()
    assert staff.get(url(model, "change", obj.pk)).status_code == 200


def test_ledger_and_audit_are_read_only(staff):
    entry = LedgerEntry.objects.first()
    assert staff.post(url(LedgerEntry, "change", entry.pk), {"memo": "edited"}).status_code == 403
    assert staff.get(url(LedgerEntry, "add")).status_code == 403
    assert staff.post(url(LedgerEntry, "delete", entry.pk), {"post": "yes"}).status_code == 403
    assert LedgerEntry.objects.get(pk=entry.pk).memo == entry.memo
    event = AuditEvent.objects.first()
    assert staff.post(url(AuditEvent, "change", event.pk), {"reason": "x"}).status_code == 403


def act(client, model, action, objects, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [o.pk for o in objects], **extra}
    return client.post(url(model, "changelist"), data, follow=True)


def test_lock_and_unlock_go_through_the_service_and_are_audited(staff):
    order = Order.objects.filter(locked=False).first()
    response = act(staff, Order, "lock_orders", [order])
    assert "Locked 1 order(s)." in response.content.decode()
    order.refresh_from_db()
    assert order.locked is True
    event = AuditEvent.objects.get(action="order.locked", target_id=order.pk)
    assert (event.actor_label, event.before, event.after) == ("admin", False, True)
    act(staff, Order, "unlock_orders", [order])
    order.refresh_from_db()
    assert order.locked is False


def test_terminating_an_active_order_is_refused_with_the_reason(staff):
    order = Order.objects.filter(status="active", expires_on__isnull=False).first()
    response = act(staff, Order, "terminate_orders", [order], reason="closing", apply="1")
    assert "must be suspended and run out its grace first" in response.content.decode()
    order.refresh_from_db()
    assert order.status == "active"


def test_balance_adjustment_with_a_reason(staff, assert_invariants):
    account = Account.objects.get(customer__ref="c001")
    form = act(staff, Account, "post_adjustment", [account])
    assert "Post a balance adjustment" in form.content.decode()
    act(staff, Account, "post_adjustment", [account], amount="-5.50", reason="Goodwill reversal", apply="1")
    entry = LedgerEntry.objects.filter(account=account).latest("pk")
    assert (entry.kind, entry.amount, entry.memo, entry.actor_label) == (
        "adjustment",
        Decimal("-5.50"),
        "Goodwill reversal",
        "admin",
    )
    account_after = Account.objects.get(pk=account.pk)
    assert account_after.balance == account.balance - Decimal("5.50")
    assert_invariants()


def test_adjustment_beyond_the_credit_limit_is_refused(staff):
    account = Account.objects.get(customer__ref="c001")
    too_much = -(account.balance + account.credit_limit + Decimal("1.00"))
    response = act(staff, Account, "post_adjustment", [account], amount=str(too_much), reason="x", apply="1")
    assert "available" in response.content.decode()
    assert Account.objects.get(pk=account.pk).balance == account.balance


def test_editing_an_order_in_admin_is_audited(staff):
    order = Order.objects.filter(auto_renew=False, expires_on__isnull=False).first()
    form = staff.get(url(Order, "change", order.pk)).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(auto_renew="on", customer=order.customer_id, plan=order.plan_id, expires_on=str(order.expires_on))
    for flag in ("auto_renew_locked", "locked", "stopped", "pending_action", "do_not_renew"):
        if not getattr(order, flag):
            data.pop(flag, None)
        else:
            data[flag] = "on"
    response = staff.post(url(Order, "change", order.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    order.refresh_from_db()
    assert order.auto_renew is True
    assert AuditEvent.objects.filter(action="order.auto_renew", target_id=order.pk, actor_label="admin").count() == 1


def test_credit_limit_below_the_debt_is_refused_in_the_form(staff):
    account = Account.objects.get(customer__ref="c001")
    response = staff.post(
        url(Account, "change", account.pk),
        {"currency": "USD", "credit_limit": "-1.00", "auto_renew": "on"},
    )
    assert "the credit limit cannot be negative" in response.content.decode()


def test_adding_a_customer_opens_its_account_with_it(staff):
    """The admin's add form goes through balances.services.customer_open: the
    customer and its empty account together, the creation audited."""
    reseller = Reseller.objects.order_by("pk").first()
    data = {"ref": "c-new", "name": "New Customer", "email": "new@example.com", "reseller": reseller.pk}
    response = staff.post(url(Customer, "add"), {**data, "allow_auto_renew": "on"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    customer = Customer.objects.get(ref="c-new")
    assert (customer.reseller_id, customer.allow_auto_renew) == (reseller.pk, True)
    account = Account.objects.get(customer=customer)
    assert (account.currency, account.balance, account.credit_limit) == ("USD", Decimal("0"), Decimal("0"))
    assert AuditEvent.objects.filter(action="customer.create", target_id=customer.pk).count() == 1
