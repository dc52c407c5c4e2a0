import datetime

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from invoices.models import Invoice
from renewals.lifecycle import provisioning_run
from renewals.models import HookState, LifecycleEvent, SweepRun
from tests.factories import UserFactory
from tests.renewals.conftest import order

D = datetime.date


@pytest.fixture
def admin_client(client, portal):
    portal([order("o1", D(2026, 12, 10)), order("o2", D(2026, 11, 20), auto_renew=False)])
    client.force_login(UserFactory(is_staff=True, is_superuser=True, username="root"))
    return client


def test_dry_run_a_date_from_the_admin_writes_nothing(admin_client):
    url = reverse("admin:renewals_sweeprun_run_date")
    assert admin_client.get(url).status_code == 200
    page = admin_client.post(url, {"date": "2026-12-05", "dry_run": "on"}).content.decode()
    assert "2026-12-05 (dry run): 1 batch(es) renewed (1 orders)" in page
    assert "<td>o2</td><td>active</td><td>suspended</td>" in page  # the lifecycle it would apply
    assert not SweepRun.objects.exists()
    assert not Invoice.objects.exists()


def test_run_a_date_from_the_admin(admin_client):
    page = admin_client.post(reverse("admin:renewals_sweeprun_run_date"), {"date": "2026-12-05"}).content.decode()
    assert "2026-12-05: 1 batch(es) renewed (1 orders)" in page
    run = SweepRun.objects.get()
    assert (run.outcome, run.orders_renewed, run.suspended, run.triggered_by) == ("completed", 1, 1, "root")
    changelist = admin_client.get(reverse("admin:renewals_sweeprun_changelist")).content.decode()
    assert "Run or dry-run a date" in changelist
    # Running the date again from the list is harmless.
    admin_client.post(
        reverse("admin:renewals_sweeprun_changelist"), {"action": "run_dates", ACTION_CHECKBOX_NAME: [run.pk]}
    )
    assert Invoice.objects.count() == 1


def test_staff_without_superuser_may_not_run_the_nightly_work(client, portal):
    user = UserFactory(is_staff=True, username="clerk")
    from django.contrib.auth.models import Permission

    user.user_permissions.add(Permission.objects.get(codename="view_sweeprun"))
    client.force_login(user)
    response = client.post(reverse("admin:renewals_sweeprun_run_date"), {"date": "2026-12-05"}, follow=True)
    assert "Only a platform admin may run the nightly work." in response.content.decode()
    assert not SweepRun.objects.exists()


def test_retry_failed_hooks_from_the_admin(admin_client, settings):
    settings.PROVISIONING_HOOK = "tests.renewals.test_lifecycle_hooks.failing_hook"
    admin_client.post(reverse("admin:renewals_sweeprun_run_date"), {"date": "2026-12-05"})
    provisioning_run()  # what the after-commit task does
    event = LifecycleEvent.objects.get()
    assert event.hook_state == HookState.FAILED
    listing = admin_client.get(reverse("admin:renewals_lifecycleevent_changelist")).content.decode()
    assert "provisioning API unreachable" in listing
    settings.PROVISIONING_HOOK = "renewals.provisioning.log_hook"
    admin_client.post(
        reverse("admin:renewals_lifecycleevent_changelist"), {"action": "retry_hooks", ACTION_CHECKBOX_NAME: [event.pk]}
    )
    event.refresh_from_db()
    assert event.hook_state == HookState.DONE
