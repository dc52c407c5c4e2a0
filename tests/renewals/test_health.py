"""/healthz for monitoring (database, broker, last nightly run) and
/healthz/live for docker compose's web healthcheck."""

import datetime
import os

import pytest
import redis
import time_machine

from renewals.models import RunOutcome, SweepRun

pytestmark = pytest.mark.django_db
D = datetime.date
# Noon in UTC (the test settings' TIME_ZONE): "today" is 2026-12-10.
NOON = datetime.datetime(2026, 12, 10, 12, 0, tzinfo=datetime.UTC)
CLOSED_PORT = "redis://127.0.0.1:1/0"
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def completed(on, **extra):
    return SweepRun.objects.create(business_date=on, outcome=RunOutcome.COMPLETED, duration_ms=1200, **extra)


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(NOON, tick=False):
        yield


def checks(response):
    return response.json()["checks"]


def test_healthy_after_last_nights_run(client):
    completed(D(2026, 12, 9))
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"] == {
        "ok": True,
        "detail": "none configured: tasks run in-process",
        "configured": False,
    }
    nightly = body["checks"]["nightly_run"]
    assert nightly["ok"] is True
    assert nightly["last_run"]["business_date"] == "2026-12-09"
    assert nightly["last_run"]["outcome"] == "completed"
    assert nightly["completed_recently"] is True
    assert response["Cache-Control"].startswith("max-age=0")


def test_a_fresh_install_without_any_run_is_healthy(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert checks(response)["nightly_run"] == {
        "ok": True,
        "detail": "no nightly run yet",
        "last_run": None,
        "completed_recently": False,
    }


def test_dry_runs_do_not_count(client):
    completed(D(2026, 12, 2))
    completed(D(2026, 12, 10), dry_run=True)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert checks(response)["nightly_run"]["last_run"]["business_date"] == "2026-12-02"


def test_the_database_is_fine_but_the_broker_is_down(client, settings):
    # A configured broker on a closed port: connection refused at once.
    settings.REDIS_URL = CLOSED_PORT
    settings.CELERY_TASK_ALWAYS_EAGER = False
    completed(D(2026, 12, 10))
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["nightly_run"]["ok"] is True
    broker = body["checks"]["broker"]
    assert broker["ok"] is False
    assert broker["configured"] is True
    assert "OperationalError" in broker["detail"]
    # The liveness route asks the database only: the web container stays up.
    assert client.get("/healthz/live").status_code == 200


def redis_answers(url):
    try:
        return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
    except redis.exceptions.RedisError:
        return False


def test_a_broker_that_answers_is_healthy(client, settings):
    if not redis_answers(TEST_REDIS_URL):
        pytest.skip(f"needs Redis at {TEST_REDIS_URL}")
    settings.REDIS_URL = TEST_REDIS_URL
    settings.CELERY_TASK_ALWAYS_EAGER = False
    completed(D(2026, 12, 9))
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert checks(response)["broker"] == {"ok": True, "detail": "answers", "configured": True}


def test_the_last_run_failed(client):
    completed(D(2026, 12, 9))
    SweepRun.objects.create(
        business_date=D(2026, 12, 10), outcome=RunOutcome.FAILED, error="OperationalError('server closed')\nmore"
    )
    response = client.get("/healthz")
    assert response.status_code == 503
    nightly = checks(response)["nightly_run"]
    assert nightly["ok"] is False
    assert nightly["last_run"]["outcome"] == "failed"
    assert nightly["detail"] == "the last run (2026-12-10) failed: OperationalError('server closed')"
    assert checks(response)["database"]["ok"] is True


def test_a_stale_run_is_unhealthy(client):
    # The last completed run is three nights old: the schedule stopped.
    completed(D(2026, 12, 7))
    response = client.get("/healthz")
    assert response.status_code == 503
    nightly = checks(response)["nightly_run"]
    assert nightly["ok"] is False
    assert nightly["completed_recently"] is False
    assert nightly["detail"] == "no run completed for 2026-12-09 or 2026-12-10; the last is 2026-12-07 (completed)"


def test_tonights_run_in_progress_after_a_completed_yesterday_is_healthy(client):
    completed(D(2026, 12, 9))
    SweepRun.objects.create(business_date=D(2026, 12, 10), outcome=RunOutcome.RUNNING)
    assert client.get("/healthz").status_code == 200


def test_yesterday_and_today_follow_the_platform_time_zone(client, settings):
    # 2026-12-10 12:00 UTC is already 2026-12-11 in Auckland: a run for the
    # 9th is two nights old there.
    settings.TIME_ZONE = "Pacific/Auckland"
    completed(D(2026, 12, 9))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "no run completed for 2026-12-10 or 2026-12-11" in checks(response)["nightly_run"]["detail"]


def test_liveness_answers_with_the_database(client):
    response = client.get("/healthz/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
