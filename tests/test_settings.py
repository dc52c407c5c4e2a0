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


# --- HTTPS and proxies (README "Deploying behind a proxy") ---

LONG_KEY = "k" * 20 + "-production-secret-" + "x7Q2" * 5
PRODUCTION = {"SECRET_KEY": LONG_KEY, "ALLOWED_HOSTS": "portal.example.com"}
SECURITY = (
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_SSL_REDIRECT",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "TRUSTED_PROXY_COUNT",
)


def security_settings(**env):
    import json

    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{name: getattr(settings, name, None) for name in {SECURITY!r}}}))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", *SECURITY}}
    clean.update(DJANGO_SETTINGS_MODULE="billing_portal.settings", **env)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_defaults_are_https_only():
    values = security_settings(**PRODUCTION)
    assert values == {
        "SECURE_PROXY_SSL_HEADER": None,  # nothing believed until the proxy is named
        "SECURE_SSL_REDIRECT": True,
        "SECURE_REDIRECT_EXEMPT": [r"^healthz$", r"^healthz/live$"],
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "TRUSTED_PROXY_COUNT": 0,
    }


def test_development_is_plain_http():
    values = security_settings(DEBUG="1")
    assert (values["SECURE_SSL_REDIRECT"], values["SECURE_HSTS_SECONDS"], values["SESSION_COOKIE_SECURE"]) == (
        False,
        0,
        False,
    )


def test_the_proxys_https_header_and_the_rest_come_from_the_environment():
    values = security_settings(
        **PRODUCTION,
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",  # as the proxy's docs spell it; Django's META name works too
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="3600",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="0",
        SECURE_HSTS_PRELOAD="0",
        TRUSTED_PROXY_COUNT="2",
    )
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["SECURE_SSL_REDIRECT"] is False
    assert (values["SECURE_HSTS_SECONDS"], values["SECURE_HSTS_INCLUDE_SUBDOMAINS"]) == (3600, False)
    assert values["SECURE_HSTS_PRELOAD"] is False
    assert values["TRUSTED_PROXY_COUNT"] == 2


def test_the_documented_production_environment_passes_djangos_deploy_checks():
    # Not the test process's environment: the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in it.
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")}
    clean.update(DJANGO_SETTINGS_MODULE="billing_portal.settings", SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO")
    clean.update(PRODUCTION)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
