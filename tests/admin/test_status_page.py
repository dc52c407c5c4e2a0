"""The operators' status page (/admin/status/): the last runs with a chart,
payment attempts awaiting a decision, failed notices and hooks, the outbox
backlog, the accounts held back by an internal error and the open faults;
"nothing" said plainly where there is nothing; staff only; a fixed number of
queries."""

import datetime
import itertools
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from core.isolation import Subject, fault_record
from core.models import Fault, Stage
from core.services import faults_resolve
from notifications.models import DeliveryState, Notice, NoticeKind
from payments.models import AttemptPurpose, AttemptState, PaymentAttempt
from renewals.models import HookState, LifecycleEvent, OrderOutcome, RunOutcome, SweepRun, Transition
from tenants.scope import Actor
from tests.factories import CustomerFactory, OrderFactory, UserFactory, member

pytestmark = pytest.mark.django_db
D = datetime.date
URL = reverse("admin-status")
keys = itertools.count()
NIGHT = D(2026, 12, 3)


@pytest.fixture
def operator(client):
    client.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))
    return client


def run(on, outcome=RunOutcome.COMPLETED, **counts):
    return SweepRun.objects.create(business_date=on, outcome=outcome, **counts)


def fault(key, *, run_id=None, on=NIGHT, stage=Stage.SWEEP, label=""):
    try:
        raise RuntimeError(f"broken {key}\nmore detail")
    except RuntimeError as exc:
        return fault_record(stage=stage, subject=Subject(key, label or f"item {key}"), on=on, error=exc, run_id=run_id)


def attempt(customer, *, state=AttemptState.UNKNOWN, age=datetime.timedelta(hours=1)):
    made = PaymentAttempt.objects.create(
        account=customer.account,
        purpose=AttemptPurpose.RENEWAL,
        amount=Decimal("12.50"),
        currency="USD",
        state=state,
        idempotency_key=f"key-{next(keys)}",
        business_date=D(2026, 12, 3),
    )
    PaymentAttempt.objects.filter(pk=made.pk).update(created_at=timezone.now() - age)
    return made


def notice(customer, state, **extra):
    return Notice.objects.create(
        kind=NoticeKind.RENEWAL_SUCCEEDED,
        customer=customer,
        reseller=customer.reseller,
        recipient=customer.email,
        subject_key=f"batch:{next(keys)}",
        business_date=D(2026, 12, 3),
        state=state,
        **extra,
    )


def failed_hook(order):
    return LifecycleEvent.objects.create(
        order=order,
        transition=Transition.SUSPEND,
        cycle=order.expires_on,
        business_date=D(2026, 12, 3),
        hook_state=HookState.FAILED,
        hook_attempts=3,
        hook_error="ConnectionRefusedError: provisioning API down\nat line 3",
    )


def held(order, *since):
    for on in since:
        OrderOutcome.objects.create(
            order=order, business_date=on, cycle=order.expires_on, outcome="failed", reason="internal_error"
        )


def section(page, name):
    """The HTML of one section of the page, by its id."""
    start = page.index(f'<section class="status-section" id="{name}">')
    return page[start : page.index("</section>", start)]


def test_an_empty_platform_says_nothing_in_each_section(operator):
    page = operator.get(URL).content.decode()
    assert "Nothing: no nightly run yet." in section(page, "runs")
    assert "Nothing awaiting a decision." in section(page, "awaiting")
    assert "Nothing failed." in section(page, "failed-notices")
    assert "Nothing failed." in section(page, "failed-hooks")
    assert "Nothing pending." in section(page, "backlog")
    assert "Nothing held back." in section(page, "held")
    assert "Nothing open." in section(page, "open-faults")
    assert 'class="runs-chart"' not in page


def test_the_last_runs_with_counts_errors_and_a_server_drawn_chart(operator):
    old = run(D(2026, 11, 1))
    for day in range(2, 32):  # 30 more nights: the oldest drops off
        last = run(
            D(2026, 11, 1) + datetime.timedelta(days=day - 1),
            duration_ms=1000 * day,
            accounts=40 + day,
            batches_renewed=30,
            batches_failed=day % 3,
            batches_pending=1,
            orders_renewed=75,
            orders_skipped=4,
            suspended=2,
            terminated=1,
        )
    broken = run(D(2026, 12, 2), RunOutcome.FAILED, error="OperationalError('server closed the connection')\nmore")
    for n in range(5):
        fault(f"account:{n}", run_id=last.pk, on=last.business_date)
    page = operator.get(URL).content.decode()
    runs = section(page, "runs")
    assert "Last 30 nightly runs" in runs
    assert reverse("admin:renewals_sweeprun_change", args=[old.pk]) not in runs
    row = runs[runs.index(reverse("admin:renewals_sweeprun_change", args=[last.pk])) :]
    row = row[: row.index("</tr>")]
    for text in ("2026-12-01", "31.0 s", ">71<", "30 / 75", ">1<", ">4<", ">2<"):
        assert text in row
    # The run's first three faults, linked, and the way to all five.
    assert row.count(reverse("admin:core_fault_changelist").rstrip("/") + "/") == 4
    assert f"?run_id={last.pk}" in row
    assert "all 5 faults of this run" in row
    assert "broken account:0" in row
    assert "broken account:3" not in row
    failed_row = runs[runs.index(reverse("admin:renewals_sweeprun_change", args=[broken.pk])) :]
    assert "OperationalError(&#x27;server closed the connection&#x27;)" in failed_row[: failed_row.index("</tr>")]
    # The chart: inline SVG drawn on the server, a bar per run for its
    # duration and two for its accounts; no script, no CDN.
    svg = runs[runs.index("<svg") : runs.index("</svg>")]
    assert svg.count('<rect class="completed"') == 29
    assert svg.count('<rect class="failed"') == 1
    assert svg.count('<rect class="renewed"') == 30
    assert "2026-12-01: 31.0 s" in svg
    assert "<script" not in runs
    assert "https://" not in page.replace("https://www.djangoproject.com", "")
    assert "Nightly run: <strong>needs attention</strong>" in page


def test_attempts_awaiting_a_decision_flagged_first(operator):
    customer = CustomerFactory(name="Jane Doe")
    fresh = attempt(customer, age=datetime.timedelta(minutes=1))  # still in flight: not listed
    recent = attempt(customer, age=datetime.timedelta(hours=2))
    stale = attempt(customer, state=AttemptState.PENDING, age=datetime.timedelta(days=4))
    attempt(customer, state=AttemptState.SUCCEEDED, age=datetime.timedelta(days=5))
    awaiting = section(operator.get(URL).content.decode(), "awaiting")
    stale_link = reverse("admin:payments_paymentattempt_change", args=[stale.pk])
    recent_link = reverse("admin:payments_paymentattempt_change", args=[recent.pk])
    assert awaiting.index(stale_link) < awaiting.index(recent_link)
    assert reverse("admin:payments_paymentattempt_change", args=[fresh.pk]) not in awaiting
    assert awaiting.count(">decide</span>") == 1
    assert "12.50 USD" in awaiting
    assert "Jane Doe" in awaiting


def test_failed_notices_failed_hooks_and_the_backlog(operator):
    customer = CustomerFactory(name="Jane Doe")
    failed = notice(customer, DeliveryState.FAILED, attempts=4, last_error="SMTPServerDisconnected: gone\ntrace")
    notice(customer, DeliveryState.SENT)
    first_pending = notice(customer, DeliveryState.PENDING)
    Notice.objects.filter(pk=first_pending.pk).update(created_at=timezone.now() - datetime.timedelta(hours=5))
    notice(customer, DeliveryState.PENDING)
    event = failed_hook(OrderFactory(ref="web-17", customer=customer))
    page = operator.get(URL).content.decode()
    notices = section(page, "failed-notices")
    assert reverse("admin:notifications_notice_change", args=[failed.pk]) in notices
    assert "SMTPServerDisconnected: gone" in notices
    assert "trace" not in notices
    hooks = section(page, "failed-hooks")
    assert reverse("admin:renewals_lifecycleevent_change", args=[event.pk]) in hooks
    assert "web-17" in hooks
    assert "provisioning API down" in hooks
    backlog = section(page, "backlog")
    assert "2 notices waiting to be sent" in backlog
    assert "5\xa0hours ago" in backlog


def test_accounts_held_back_by_an_internal_error_and_the_open_faults(operator):
    jane = CustomerFactory(name="Jane Doe")
    first = OrderFactory(ref="web-1", customer=jane, expires_on=D(2026, 12, 10))
    second = OrderFactory(ref="web-2", customer=jane, expires_on=D(2026, 12, 10))
    held(first, D(2026, 12, 3), D(2026, 12, 4))
    held(second, D(2026, 12, 4))
    renewed_since = OrderFactory(ref="web-3", expires_on=D(2026, 12, 10))
    held(renewed_since, D(2026, 12, 3))
    OrderOutcome.objects.create(
        order=renewed_since, business_date=D(2026, 12, 4), cycle=D(2026, 12, 10), outcome="skipped", reason="stopped"
    )
    still_open = fault("account:1", label="customer c1 (Jane Doe)")
    resolved = fault("account:2", label="customer c2 (Joe)")
    faults_resolve(actor=Actor.system("ops"), ids=[resolved.pk])
    page = operator.get(URL).content.decode()
    accounts = section(page, "held")
    assert reverse("admin:tenants_customer_change", args=[jane.pk]) in accounts
    assert "web-1" in accounts
    assert "web-2" in accounts
    assert "2026-12-03" in accounts
    assert "web-3" not in accounts  # its last attempt ended otherwise
    faults = section(page, "open-faults")
    assert reverse("admin:core_fault_change", args=[still_open.pk]) in faults
    assert reverse("admin:core_fault_change", args=[resolved.pk]) not in faults
    assert "?resolved=no" in faults


def test_staff_only(client):
    assert client.get(URL).status_code == 302  # to the admin's sign-in
    client.force_login(UserFactory(is_staff=False))
    assert client.get(URL).status_code == 302
    # Reseller staff are not platform staff, even with the admin flag.
    client.force_login(member(reseller=CustomerFactory().reseller, is_staff=True))
    assert client.get(URL).status_code == 403


def test_the_admin_index_links_the_status_page(operator):
    page = operator.get(reverse("admin:index")).content.decode()
    assert f'href="{URL}"' in page


def populate(n):
    """n rows in every section, each with the relations its row shows."""
    for i in range(n):
        customer = CustomerFactory()
        order = OrderFactory(customer=customer, expires_on=D(2026, 12, 10))
        last = run(D(2026, 11, 1) + datetime.timedelta(days=i), duration_ms=1000)
        fault(f"account:{customer.pk}", run_id=last.pk)
        attempt(customer, age=datetime.timedelta(days=i % 5))
        notice(customer, DeliveryState.FAILED)
        notice(customer, DeliveryState.PENDING)
        failed_hook(order)
        held(order, D(2026, 12, 3))


def test_a_fixed_number_of_queries_whatever_the_rows(operator, django_assert_max_num_queries):
    populate(12)
    # 3 the session, the user and their membership (who they act as); 2 the nightly verdict (latest run, a
    # completed one for yesterday or today); 1 the last 30 runs; 1 their
    # faults (the first few per run and each run's count, one windowed
    # query); 1 the attempts awaiting a decision with their customers; 1 the
    # failed notices with theirs; 1 the failed hooks with their orders; 1
    # the outbox backlog (count and oldest); 1 the held orders with their
    # customers and since when; 1 the open faults. Nothing per row.
    with django_assert_max_num_queries(13):
        response = operator.get(URL)
    assert response.status_code == 200
    assert Fault.objects.count() == 12
