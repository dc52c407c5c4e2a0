"""Every kind of notice, sent on its day through a real SMTP server, says
what SPEC's table asks for, in text and in HTML.

One portal lives through a cycle: Jane can pay, Bob cannot (and his order o3
is not set to auto-renew). The nightly run is run on the days something happens.
"""

import datetime

import pytest
from django.core.management import call_command

from notifications.delivery import deliver_pending
from tests.renewals.conftest import order

D = datetime.date
BOB = "Bob <Builder> & Sons"


@pytest.fixture
def cycle(smtp, portal):
    portal(
        [
            order("o1", D(2026, 12, 10)),
            order("o2", D(2026, 12, 10), customer="c2"),
            order("o3", D(2026, 12, 10), customer="c2", auto_renew=False),
        ],
        customers=[
            {"ref": "c1", "name": "Jane", "email": "jane@example.test", "reseller": "r1", "balance": "50.00"},
            {"ref": "c2", "name": BOB, "email": "bob@example.test", "reseller": "r1", "balance": "4.00"},
        ],
    )

    def night(on: D) -> dict[tuple[str, str], tuple[str, ...]]:
        """Run date ``on`` and deliver: {(recipient, kind): (subject, text, html)},
        the subject keyed too when one kind goes out once per order."""
        before = len(smtp.inbox.messages)
        call_command("run_renewals", "--date", on.isoformat(), verbosity=0)
        deliver_pending()
        mails = {}
        for message in smtp.inbox.messages[before:]:
            key = (message["To"], message["X-Portal-Notice"].split(":")[0])
            if key in mails:
                key = (*key, message["Subject"])
            mails[key] = (message["Subject"], *smtp.inbox.bodies(message), message["From"])
        return mails

    return night


def _row_text(ref, paid_thru, period, amount):
    return f"- {ref}: Basic, 1 month(s), paid thru {paid_thru}, period {period}, {amount}"


@pytest.mark.django_db
def test_a_cycle_sends_each_kind_on_its_day_with_its_content(cycle):
    jane, bob, acme = "jane@example.test", "bob@example.test", "billing@acme.test"

    # 3 days before the first attempt (7 days before expiry, on 12-03).
    mails = cycle(D(2026, 11, 30))
    assert set(mails) == {(jane, "advance_notice"), (bob, "advance_notice")}
    subject, text, html, *_ = mails[(jane, "advance_notice")]
    assert subject == "Auto-renewal on 2026-12-03: 10.00 USD"
    assert _row_text("o1", "2026-12-10", "2026-12-10 to 2027-01-10", "10.00 USD") in text
    assert "Your available funds (50.00 USD) cover it" in text
    assert ">Paid thru</th>" in html
    assert ">o1</td>" in html
    subject, text, html, *_ = mails[(bob, "advance_notice")]
    assert "o3" not in text  # it will not auto-renew: the reminders are its notices
    assert "Your available funds are 4.00 USD: top up at least 6.00 USD (or save a card) before 2026-12-03" in text
    assert "Hello Bob <Builder> & Sons," in text  # plain text is not escaped
    assert "Hello Bob &lt;Builder&gt; &amp; Sons," in html  # HTML is

    # The first attempt: Jane renews, Bob fails (and his reseller hears of it); o3's 7-day reminder.
    mails = cycle(D(2026, 12, 3))
    assert set(mails) == {
        (jane, "renewal_succeeded"),
        (jane, "renewal_completed"),
        (bob, "renewal_failed"),
        (acme, "reseller_failure"),
        (bob, "renewal_reminder"),
    }
    subject, text, html, *_ = mails[(jane, "renewal_succeeded")]
    assert subject == "Renewal paid: 10.00 USD for 1 order (invoice R1-2026-000001)"
    assert "We paid the renewal, 10.00 USD, from your balance." in text
    assert _row_text("o1", "2027-01-10", "2026-12-10 to 2027-01-10", "10.00 USD") in text
    assert "Total: 10.00 USD" in text
    assert ">Total</td>" in html
    subject, text, _html, *_ = mails[(jane, "renewal_completed")]
    assert subject == "Renewed: 1 order now paid thru 2027-01-10"
    assert "renewed and provisioned for the new period" in text
    subject, text, html, *_ = mails[(bob, "renewal_failed")]
    assert subject == "Your automatic renewal failed: 1 order not renewed"
    assert _row_text("o2", "2026-12-10", "2026-12-10 to 2027-01-10", "10.00 USD") in text
    assert "Why: Your balance and credit limit do not cover the whole renewal, and there is no usable card." in text
    assert "What to do: Top up your balance or save a card before the expiry date." in text
    assert "We will try again every night until 2026-12-10" in text
    assert "<strong>Why:</strong>" in html
    subject, text, _html, sender = mails[(acme, "reseller_failure")]
    assert subject == f"Renewal failed for {BOB} (c2)"
    assert sender == "billing@portal.test"  # from the platform: Acme has no reseller above it
    assert text.startswith("Hello Acme Hosting,")
    assert "What the customer can do: Top up your balance" in text
    subject, text, _html, *_ = mails[(bob, "renewal_reminder")]
    # o2 too: its auto-renewal failed this cycle (a moment ago).
    assert subject == "Renew by 2026-12-10: 2 orders expire in 7 days"
    assert _row_text("o3", "2026-12-10", "2026-12-10 to 2027-01-10", "10.00 USD") in text
    assert "(the automatic renewal of o2 failed this cycle)" in text

    # Nothing on the nights in between, however often the work runs.
    assert cycle(D(2026, 12, 3)) == {}
    assert cycle(D(2026, 12, 4)) == {}

    # The day before expiry: the 1-day reminder.
    mails = cycle(D(2026, 12, 9))
    assert set(mails) == {(bob, "renewal_reminder")}
    subject, text, _html, *_ = mails[(bob, "renewal_reminder")]
    assert subject == "Renew by 2026-12-10: 2 orders expire in 1 day"

    # The expiry day: the last chance, to Bob and his reseller.
    mails = cycle(D(2026, 12, 10))
    assert set(mails) == {(bob, "renewal_last_chance"), (acme, "reseller_failure")}
    subject, text, _html, *_ = mails[(bob, "renewal_last_chance")]
    assert subject == "Last chance: 1 order expires today"
    assert "they will be suspended tomorrow unless they are renewed today" in text
    assert "What to do: Top up your balance or save a card before the expiry date." in text
    subject, text, _html, *_ = mails[(acme, "reseller_failure")]
    assert subject == f"Last chance: Renewal failed for {BOB} (c2)"
    assert "on the orders' last day: they will be suspended tomorrow" in text

    # Suspended the next day; grace is 15 days, so terminated on 12-26.
    # One notice per order from here on.
    mails = cycle(D(2026, 12, 11))
    assert sorted(subject for subject, *_ in mails.values()) == [
        "Suspended: o2 was not renewed",
        "Suspended: o3 was not renewed",
    ]
    _subject, text, _html, *_ = mails[(bob, "suspended")]
    assert "Renew it by hand before 2026-12-26 to restore it. On 2026-12-26 it will be terminated" in text

    mails = cycle(D(2026, 12, 23))
    assert sorted(subject for subject, *_ in mails.values()) == [
        "o2 will be terminated on 2026-12-26",
        "o3 will be terminated on 2026-12-26",
    ]
    _subject, text, _html, *_ = mails[(bob, "termination_warning")]
    assert "Unless it is renewed, it will be terminated on 2026-12-26" in text

    mails = cycle(D(2026, 12, 26))
    assert sorted(subject for subject, *_ in mails.values()) == ["Terminated: o2", "Terminated: o3"]
    _subject, text, _html, *_ = mails[(bob, "terminated")]
    assert "A terminated order cannot be restored." in text
