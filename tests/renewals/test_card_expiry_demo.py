"""The demo's night sends one card-expiry warning: Jane's card runs out
before her domain c001-o15 is first tried (demo.builder.expiring_card)."""

import datetime

import pytest
from django.core.management import call_command

from notifications.models import Notice, NoticeKind
from payments.models import Card

TODAY = datetime.date(2026, 11, 25)


@pytest.mark.django_db
def test_the_demo_night_warns_jane_of_her_expiring_card(stripe_on, settings):
    settings.SWEEP_WORKERS = 1
    call_command("seed_demo", "--date", TODAY.isoformat(), verbosity=0)
    card = Card.objects.get(account__customer__ref="c001")
    assert (card.exp_month, card.exp_year) == (11, 2026)  # the first attempt is on Dec 25
    call_command("run_renewals", "--date", TODAY.isoformat(), "--no-progress", verbosity=0)
    [notice] = Notice.objects.filter(kind=NoticeKind.CARD_EXPIRING)
    assert (notice.customer.ref, notice.subject_key) == ("c001", f"card:{card.pk}")
    assert {row["ref"]: row["attempt_on"] for row in notice.data["orders"]}["c001-o15"] == "2026-12-25"
    assert "visa •••• 4242 expires at the end of 11/2026" in notice.rendered().text
