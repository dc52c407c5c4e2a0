"""Date-driven notices of the nightly run (renewals.reminders): advance
notices, termination warnings and renewal reminders."""

import datetime

import pytest
from django.core.management import call_command

from notifications.models import Notice
from tests.renewals.conftest import order

D = datetime.date


def night(day: datetime.date) -> None:
    call_command("run_renewals", "--date", day.isoformat(), verbosity=0)


@pytest.mark.django_db
def test_advance_notice_3_days_before_the_first_attempt_with_what_to_top_up(portal):
    portal(
        [
            order("o1", D(2026, 12, 10)),
            order("o2", D(2026, 12, 10), auto_renew=False),
            order("y1", D(2027, 1, 9), tenure=12),
        ],
        customers=[{"ref": "c1", "name": "J", "email": "j@x.test", "reseller": "r1", "balance": "4.00"}],
    )
    night(D(2026, 11, 29))
    assert not Notice.objects.filter(kind="advance_notice").exists()
    night(D(2026, 11, 30))  # 1-month order expiring Dec 10: first attempt Dec 3, notice Nov 30
    night(D(2026, 11, 30))  # the nightly work twice: still one
    notice = Notice.objects.get(kind="advance_notice")
    assert notice.order_refs == ["o1"]  # o2 will not auto-renew; y1 (12 months) opens on Dec 10
    assert "top up at least 6.00 USD" in notice.rendered().text
    night(D(2026, 12, 7))  # the 12-month order expiring Jan 9: first attempt Dec 10
    assert Notice.objects.filter(kind="advance_notice").count() == 2


@pytest.mark.django_db
def test_termination_warning_3_days_before_termination_once(portal):
    portal([order("o1", D(2026, 12, 10), status="suspended", auto_renew=False)])
    # hosting grace 15 days: terminated Dec 26, warned Dec 23.
    for day in (D(2026, 12, 22), D(2026, 12, 23), D(2026, 12, 23), D(2026, 12, 24)):
        night(day)
    warning = Notice.objects.get(kind="termination_warning")
    assert (warning.business_date, warning.order_refs) == (D(2026, 12, 23), ["o1"])
    assert "will be terminated on 2026-12-26" in warning.rendered().subject


@pytest.mark.django_db
def test_renewal_reminders_30_7_and_1_days_before_expiry(portal):
    portal(
        [
            order("manual", D(2026, 12, 31), auto_renew=False),
            order("dnr", D(2026, 12, 31), auto_renew=False, do_not_renew=True),
            order("auto", D(2026, 12, 31)),  # renews by itself: no reminder while it has not failed
        ],
        customers=[{"ref": "c1", "name": "J", "email": "j@x.test", "reseller": "r1", "balance": "0.00"}],
    )
    for day in (D(2026, 12, 1), D(2026, 12, 2), D(2026, 12, 24), D(2026, 12, 24), D(2026, 12, 30)):
        night(day)
    reminders = list(Notice.objects.filter(kind="renewal_reminder").order_by("business_date"))
    assert [(n.business_date, n.order_refs) for n in reminders] == [
        (D(2026, 12, 1), ["manual"]),  # 30 days before
        (D(2026, 12, 24), ["manual", "auto"]),  # 7 days before: "auto" failed on Dec 24 (no funds)
        (D(2026, 12, 30), ["manual", "auto"]),  # 1 day before
    ]
