"""Every admin action and custom admin page that changes state declares the
permission it needs, and a staff member who may only view answers 403 for
each, with nothing changed.

The cases are discovered from the admin site itself (every registered
ModelAdmin's actions and URLs), so a new action or page is covered without
anyone adding it here; only read-only ones are listed, by name."""

import datetime
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.isolation import Subject, fault_record
from core.models import Stage
from notifications.models import DeliveryState, Notice
from payments.models import AttemptPurpose, AttemptState, PaymentAttempt
from renewals.models import HookState, LifecycleEvent
from renewals.sweep.run import sweep_run
from staff.otp import recovery_codes_issue
from tenants.models import Customer
from tenants.scope import Actor
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# Actions that write nothing: anyone who may view the list may run them.
READ_ONLY_ACTIONS = {
    ("renewals.sweeprun", "dry_run_dates"),  # predicts only (renewals.sweep.plan)
}
# Custom admin pages that write nothing.
READ_ONLY_URLS: set[str] = {"invoices_invoice_pdf"}  # an invoice's PDF (invoices.pdf)
# What a custom page's form needs to be otherwise valid, so a 403 is the permission's doing.
URL_PAYLOADS = {"renewals_sweeprun_run_date": {"date": "2026-11-26"}}

STANDARD_URLS = ("changelist", "add", "history", "delete", "change")


def registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label_lower)


def action_cases():
    return [
        pytest.param(model, name, func, id=f"{model._meta.label_lower}:{name}")
        for model, model_admin in registered()
        for func, name, _description in model_admin._get_base_actions()
    ]


def url_cases():
    cases = []
    for model, model_admin in registered():
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        for pattern in model_admin.get_urls():
            name = pattern.name or ""
            if name and name.removeprefix(prefix) not in STANDARD_URLS:
                cases.append(pytest.param(model, pattern, id=name))
    return cases


@pytest.fixture
def portal(db):
    """The demo, a night's run, and one row for each model an action works on."""
    call_command("seed_demo", "--date", "2026-11-25", verbosity=0)
    sweep_run(on=datetime.date(2026, 11, 26), actor=Actor.system("test"))
    Notice.objects.filter(pk=Notice.objects.order_by("pk").values("pk")[:1]).update(state=DeliveryState.FAILED)
    LifecycleEvent.objects.filter(pk=LifecycleEvent.objects.order_by("pk").values("pk")[:1]).update(
        hook_state=HookState.FAILED
    )
    PaymentAttempt.objects.create(
        account=Customer.objects.order_by("pk").first().account,
        purpose=AttemptPurpose.RENEWAL,
        amount=Decimal("12.50"),
        currency="USD",
        state=AttemptState.UNKNOWN,
        idempotency_key="key-view-only",
        business_date=datetime.date(2026, 11, 26),
    )
    try:
        raise RuntimeError("broken")
    except RuntimeError as exc:
        fault_record(stage=Stage.SWEEP, subject=Subject("c001", "c001"), on=datetime.date(2026, 11, 26), error=exc)
    colleague = UserFactory(username="colleague", is_staff=True)
    TOTPDevice.objects.create(user=colleague, name="Authenticator app", confirmed=True)
    recovery_codes_issue(actor=Actor.system("test"), user=colleague)
    Group.objects.create(name="operators")


@pytest.fixture
def viewer(client, portal):
    """Staff who may view everything and change nothing."""
    user = UserFactory(username="viewer", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    client.force_login(user)
    return client


def snapshot():
    """Every row of every model the admin shows (the audit log included)."""
    return {
        model._meta.label: list(model._default_manager.order_by("pk").values())
        for model, _ in registered()
        if model._meta.label != "auth.User"  # signing in stamps last_login
    }


def selected(model):
    first = model._default_manager.order_by("pk").first()
    return [first.pk] if first is not None else ["0"]


def test_the_discovery_finds_the_actions_and_pages_it_should():
    names = {case.id for case in action_cases()}
    assert {
        "renewals.sweeprun:run_dates",
        "renewals.lifecycleevent:retry_hooks",
        "notifications.notice:retry_failed",
        "payments.paymentattempt:reconcile",
        "orders.order:lock_orders",
        "django_celery_beat.periodictask:run_tasks",
        "auth.user:delete_selected",
    } <= names
    assert {case.id for case in url_cases()} >= {"renewals_sweeprun_run_date"}
    # The allow-lists name things that exist (a renamed action must not stay allowed).
    assert READ_ONLY_ACTIONS <= {tuple(name.split(":")) for name in names}


# One test over all the cases (the demo is seeded once, not once per case);
# each failure names its action or page.


def test_every_state_changing_action_declares_a_permission_and_refuses_view_only_staff(viewer):
    failures = []
    for case in action_cases():
        model, name, func = case.values
        if (model._meta.label_lower, name) in READ_ONLY_ACTIONS:
            continue
        if not getattr(func, "allowed_permissions", None):
            failures.append(f"{case.id}: declares no permission (@admin.action(permissions=...))")
            continue
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        before = snapshot()

        # posted as the list's form would, with an object selected and its confirmation given
        response = viewer.post(changelist, {"action": name, ACTION_CHECKBOX_NAME: selected(model), "apply": "1",
                                            "post": "yes", "reason": "testing", "amount": "1.00"})  # fmt: skip

        if response.status_code != 403:
            failures.append(f"{case.id}: answered {response.status_code} to view-only staff")
        if snapshot() != before:
            failures.append(f"{case.id}: changed the data for view-only staff")
    assert not failures, "\n".join(failures)


def test_every_custom_admin_page_that_changes_state_refuses_view_only_staff(viewer):
    failures = []
    for case in url_cases():
        model, pattern = case.values
        if pattern.name in READ_ONLY_URLS:
            continue
        first = model._default_manager.order_by("pk").first()
        url = reverse(f"admin:{pattern.name}", kwargs={key: first.pk for key in pattern.pattern.converters})
        before = snapshot()

        answers = (viewer.get(url).status_code, viewer.post(url, URL_PAYLOADS.get(pattern.name, {})).status_code)

        if answers != (403, 403):
            failures.append(f"{case.id}: answered {answers} to view-only staff")
        if snapshot() != before:
            failures.append(f"{case.id}: changed the data for view-only staff")
    assert not failures, "\n".join(failures)
