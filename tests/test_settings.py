import os
import subprocess
import sys

import pytest

from tests.conftest import ON_POSTGRES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def settings_in_fresh_process(**env):
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps({'engine': settings.DATABASES['default']['ENGINE'], "
        "'name': str(settings.DATABASES['default']['NAME']), 'eager': settings.CELERY_TASK_ALWAYS_EAGER, "
        "'broker': settings.CELERY_BROKER_URL, 'tz': settings.TIME_ZONE}))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}}
    clean.update(DJANGO_SETTINGS_MODULE="billing_portal.settings", **env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True)


def test_secret_key_is_required_when_debug_is_off():
    result = settings_in_fresh_process()
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_embedded_defaults_need_nothing_running():
    import json

    result = settings_in_fresh_process(DEBUG="1")
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"].endswith("db.sqlite3")
    assert values["eager"] is True  # no broker: Celery tasks run in-process


def test_environment_configures_postgres_redis_and_the_billing_day():
    import json

    result = settings_in_fresh_process(
        SECRET_KEY="k",
        DATABASE_URL="postgres://u:p@db.example:5432/portal",
        REDIS_URL="redis://cache.example:6379/0",
        TIME_ZONE="Europe/Berlin",
    )
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["name"] == "portal"
    assert values["eager"] is False
    assert values["broker"] == "redis://cache.example:6379/0"
    assert values["tz"] == "Europe/Berlin"


def test_a_celery_task_runs_in_process_without_a_broker():
    from billing_portal.celery import app

    @app.task
    def add(a, b):
        return a + b

    assert add.delay(2, 3).get() == 5


@pytest.mark.postgres
def test_the_suite_runs_on_postgres_here():
    assert ON_POSTGRES
