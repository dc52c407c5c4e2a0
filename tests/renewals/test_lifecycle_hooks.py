import datetime

import pytest
from django.core.management import call_command

from renewals.lifecycle import provisioning_run
from renewals.models import HookState, LifecycleEvent
from tests.renewals.conftest import order

D = datetime.date
CALLS = []


def recording_hook(event):
    CALLS.append((event.order.ref, event.transition))


def failing_hook(event):
    raise ConnectionError("provisioning API unreachable")


@pytest.fixture(autouse=True)
def _clear_calls():
    CALLS.clear()


def test_each_transition_calls_the_hook_once_after_commit(portal, settings, django_capture_on_commit_callbacks):
    settings.PROVISIONING_HOOK = "tests.renewals.test_lifecycle_hooks.recording_hook"
    portal([order("o1", D(2026, 12, 10), auto_renew=False)])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("run_renewals", "--date", "2026-12-11", verbosity=0)
    assert CALLS == []  # nothing runs inside the transaction
    for callback in callbacks:
        callback()
    assert CALLS == [("o1", "suspend")]
    call_command("run_renewals", "--date", "2026-12-11", verbosity=0)  # the same night again
    provisioning_run()
    assert CALLS == [("o1", "suspend")]
    assert LifecycleEvent.objects.get().hook_state == HookState.DONE


def test_a_failing_hook_is_kept_shown_and_retried(portal, settings):
    settings.PROVISIONING_HOOK = "tests.renewals.test_lifecycle_hooks.failing_hook"
    portal([order("o1", D(2026, 12, 10), auto_renew=False)])
    call_command("run_renewals", "--date", "2026-12-11", verbosity=0)
    assert provisioning_run() == {"done": 0, "failed": 1}  # what the after-commit task does
    event = LifecycleEvent.objects.get()
    assert (event.hook_state, event.hook_attempts) == (HookState.FAILED, 1)
    assert event.hook_error == "provisioning API unreachable"
    settings.PROVISIONING_HOOK = "tests.renewals.test_lifecycle_hooks.recording_hook"
    assert provisioning_run() == {"done": 1, "failed": 0}
    event.refresh_from_db()
    assert (event.hook_state, event.hook_attempts, event.hook_error) == (HookState.DONE, 2, "")
    assert CALLS == [("o1", "suspend")]


def test_one_pass_runs_every_waiting_hook_a_page_at_a_time(portal, settings):
    settings.PROVISIONING_HOOK = "tests.renewals.test_lifecycle_hooks.recording_hook"
    portal([order(f"o{n}", D(2026, 12, 10), auto_renew=False) for n in range(7)])
    call_command("run_renewals", "--date", "2026-12-11", verbosity=0)
    LifecycleEvent.objects.update(hook_state=HookState.PENDING, hook_attempts=0)  # as if the broker were down
    CALLS.clear()
    assert provisioning_run(limit=3) == {"done": 7, "failed": 0}  # three pages, not the first alone
    assert sorted(CALLS) == sorted((f"o{n}", "suspend") for n in range(7))
    assert provisioning_run(limit=3) == {"done": 0, "failed": 0}
