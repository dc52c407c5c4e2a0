import os

import pytest
from django.conf import settings

from tenants.scope import Actor

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_collection_modifyitems(config, items):
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://... (see README)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    # CI runs the PostgreSQL suite with FAIL_ON_SKIP=1: nothing may hide there.
    if report.skipped and os.environ.get("FAIL_ON_SKIP") == "1" and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in a run that allows no skips: {report.longrepr}"


@pytest.fixture
def fresh_cache():
    """An empty cache around the test: the sign-in and API throttles count
    there, and the cache outlives a test's database rollback."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def system():
    return Actor.system("test")


@pytest.fixture
def assert_invariants(db):
    """Call at the end of a scenario: every money invariant holds."""
    from renewals.invariants import invariant_violations

    def check():
        assert invariant_violations() == []

    return check


@pytest.fixture(scope="session")
def localstripe_url():
    """A real localstripe server for the whole session (started on demand)."""
    from demo.localstripe import start_localstripe

    process, url = start_localstripe()
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def stripe_on(settings, localstripe_url):
    """The portal pointed at the session's localstripe."""
    settings.STRIPE_SECRET_KEY = "sk_test_portal"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_portal"
    settings.STRIPE_API_BASE = localstripe_url
    return localstripe_url


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("needs Debian's chromium at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
