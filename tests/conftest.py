import os

import pytest
from django.conf import settings

from tenants.scope import Actor

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)  # `-m "not browser"` leaves them out (.ci/run's SQLite run)
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


# What post_migrate makes after Django's flush: kept between transactional tests.
STATIC_TABLES = ("django_content_type", "auth_permission")


def static_rows(connection) -> tuple:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"(SELECT count(*) FROM {quote(t)})" for t in STATIC_TABLES))
        return cursor.fetchone()


def empty_the_tables(connection) -> bool:
    """Empty the tables that have rows, in one transaction, keeping the content
    types and permissions. Django's flush truncates every table (on PostgreSQL
    that takes seconds: each of ~50 tables gets new files) and rebuilds those
    two. False, with nothing done, where PostgreSQL's login may not switch off
    the append-only triggers."""
    from django.core.management.color import no_style
    from django.db import transaction

    quote = connection.ops.quote_name
    names = connection.introspection.django_table_names(only_existing=True, include_views=False)
    tables = [t for t in names if t not in STATIC_TABLES]
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"EXISTS (SELECT 1 FROM {quote(t)})" for t in tables))
        used = [t for t, rows in zip(tables, cursor.fetchone(), strict=True) if rows]
        if not used:
            return True
        if connection.vendor != "postgresql":
            connection.ops.execute_sql_flush(connection.ops.sql_flush(no_style(), used))  # DELETE FROM each
            return True
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not cursor.fetchone()[0]:
            return False
        with transaction.atomic(using=connection.alias):
            # Replica mode skips the triggers: the append-only ones and the foreign
            # keys' (every table with rows is emptied: nothing is left dangling).
            cursor.execute("SET LOCAL session_replication_role = replica")
            for table in used:
                cursor.execute(f"DELETE FROM {quote(table)}")
    return True


@pytest.fixture(scope="session", autouse=True)
def quick_transactional_teardown():
    """A transactional test (transaction=True, live_server) ends by emptying the
    tables with rows (empty_the_tables) instead of Django's flush, unless it
    changed the content types or permissions (then the flush rebuilds them)."""
    from django.core.management import call_command
    from django.db import connections
    from django.test import TransactionTestCase

    setup, teardown = TransactionTestCase.__dict__["_fixture_setup"], TransactionTestCase._fixture_teardown

    def quick(test):
        return test.available_apps is None and not test.serialized_rollback

    @classmethod
    def quick_setup(cls):  # a class method in Django; pytest-django makes a class per test
        setup.__func__(cls)
        if quick(cls):
            cls.static_rows = {a: static_rows(connections[a]) for a in cls._databases_names(include_mirrors=False)}

    def quick_teardown(self):
        if not quick(self):
            return teardown(self)
        for alias, before in self.static_rows.items():
            connection = connections[alias]
            if static_rows(connection) != before or not empty_the_tables(connection):
                call_command("flush", verbosity=0, interactive=False, database=alias)

    TransactionTestCase._fixture_setup, TransactionTestCase._fixture_teardown = quick_setup, quick_teardown
    yield
    TransactionTestCase._fixture_setup, TransactionTestCase._fixture_teardown = setup, teardown


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


@pytest.fixture(scope="module")
def chromium():
    """One Playwright driver and one Chromium for a test module's browser tests
    (starting both takes seconds; each test gets its own contexts). Module-wide,
    not session-wide: while Playwright runs, its event loop counts as running
    in this thread, which would change what the tests after it see."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("needs Debian's chromium at /usr/bin/chromium")
    from playwright.sync_api import expect, sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    # A page on a busy machine (CI runs two suites at once) may take longer than
    # expect()'s 5 s default to show what a test waits for; actions wait 30 s.
    expect.set_options(timeout=30_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser(chromium):
    """The module's Chromium; what a test opens in it (contexts, pages, their
    cookies) is closed after the test."""
    yield chromium
    for context in chromium.contexts:
        context.close()
