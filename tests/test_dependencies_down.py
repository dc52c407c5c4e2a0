"""Redis (the cache and the Celery broker) down: the panels, the API and
sign-in keep serving, the throttles count in each process meanwhile, the
nightly run sweeps in-process, and work queued after a commit waits in the
database for the next scheduled pass (SPEC "Faults and bad data")."""

import datetime
import logging

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from billing_portal.celery import app as celery_app
from core import queue
from invoices.models import InvoiceLine
from renewals.models import HookState, LifecycleEvent
from tests.panels.conftest import tenants  # noqa: F401 - the three-tenant portal with logins
from tests.renewals.conftest import order, portal  # noqa: F401 - the portal loader

DOWN = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connections are refused at once
D = datetime.date


@pytest.fixture
def redis_down(settings, monkeypatch):
    """REDIS_URL set, and Redis not answering: the cache and the broker both point at it."""
    previous = (celery_app.conf.broker_url, celery_app.conf.task_always_eager)  # before the settings change
    settings.REDIS_URL = DOWN
    settings.CACHES = {"default": {"BACKEND": "core.cache.ResilientRedisCache", "LOCATION": DOWN}}
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(queue, "_failing", set())
    celery_app.conf.update(broker_url=DOWN, task_always_eager=False)
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    yield
    celery_app.conf.update(broker_url=previous[0], task_always_eager=previous[1])
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def test_panel_sign_in_and_the_api_token_endpoint_answer_normally(redis_down, tenants, client, caplog):  # noqa: F811
    with caplog.at_level(logging.WARNING, logger="core.cache"):
        response = client.post(reverse("login"), {"username": "owner", "password": "pw"})
        assert response.status_code == 302
        assert client.get(reverse("orders")).status_code == 200
        token = APIClient().post("/api/auth/token/", {"username": "owner", "password": "pw"}, format="json")
        assert token.status_code == 200
        assert "token" in token.json()
    # Said once in the log, not once per request.
    assert [r.getMessage() for r in caplog.records].count(caplog.records[0].getMessage()) == 1
    assert "Redis is not answering" in caplog.records[0].getMessage()


def test_the_sign_in_throttle_still_limits_within_one_process(redis_down, tenants, client):  # noqa: F811
    for _ in range(5):
        assert client.post(reverse("login"), {"username": "owner", "password": "wrong"}).status_code == 200
    refused = client.post(reverse("login"), {"username": "owner", "password": "pw"})
    assert refused.status_code == 429
    assert "Too many failed sign-ins for this account" in refused.content.decode()


def test_run_renewals_renews_in_process_and_a_hook_runs_on_the_next_pass(
    redis_down,
    portal,  # noqa: F811
    django_capture_on_commit_callbacks,
    caplog,
):
    from renewals.tasks import run_provisioning_hooks

    portal([order("o1", D(2026, 12, 10)), order("o2", D(2026, 12, 4), auto_renew=False)])
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        call_command("run_renewals", "--date", "2026-12-05", verbosity=0)
    assert InvoiceLine.objects.get().order.ref == "o1"  # swept here, the broker being down
    event = LifecycleEvent.objects.get()  # o2 suspended: its hook could not be queued
    assert (event.order.ref, event.hook_state) == ("o2", HookState.PENDING)
    assert any("could not queue renewals.tasks.run_provisioning_hooks" in r.getMessage() for r in caplog.records)
    run_provisioning_hooks()  # beat's next pass (every 5 minutes)
    event.refresh_from_db()
    assert event.hook_state == HookState.DONE
