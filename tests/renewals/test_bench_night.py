"""bench_sweep --whole-night, run small: every phase of the night is timed,
the night does to each state what SPEC says (counted apart from the code that
does it: renewals.bench_night.expected_outcomes), and the invariants hold."""

import io
import json

import pytest
from django.core.management import call_command

from renewals.bench_night import PHASES
from renewals.models import LifecycleEvent


@pytest.mark.django_db(transaction=True)
def test_the_whole_night_on_six_hundred_orders_does_what_each_state_needs(monkeypatch):
    # The date's notices a few accounts at a time (renewals.reminders reads a
    # day's orders in parts): the same notices as in one part.
    monkeypatch.setattr("renewals.reminders.PART_ACCOUNTS", 7)
    monkeypatch.setattr("renewals.open.PART_ACCOUNTS", 7)  # the open renewals too
    out = io.StringIO()
    call_command(
        "bench_sweep", "--whole-night", "--orders", "600", "--seed", "3", "--date", "2026-12-01", "--json", stdout=out
    )
    figures = json.loads(out.getvalue())
    expected = figures["expected"]

    assert figures["phases_heard"] == sorted(PHASES)
    assert set(figures["phases"]) == {*PHASES, "finish"}
    assert (figures["orders"], figures["accounts"]) == (600, 200)
    assert sum(expected["orders_by_state"].values()) == 600
    # Every state the night acts on is there, even this small.
    assert all(expected["orders_by_state"][state] > 0 for state in expected["orders_by_state"])
    for outcome in ("renewed", "failed", "skipped", "suspended", "terminated"):
        assert figures[outcome] == expected[outcome], outcome
    assert figures["notices"] == expected["notices"]
    assert figures["open_renewals"] == expected["open_renewals"]
    assert figures["invariants_ok"] is True
    # The hooks of the night's moves ran after their commits.
    assert LifecycleEvent.objects.filter(business_date="2026-12-01", hook_state="done").count() == (
        expected["suspended"] + expected["terminated"]
    )


@pytest.mark.django_db(transaction=True)
def test_the_whole_night_prints_its_phases_as_text():
    out = io.StringIO()
    call_command("bench_sweep", "--whole-night", "--orders", "90", "--date", "2026-12-01", stdout=out)
    line = out.getvalue()
    assert all(f"{phase} " in line for phase in PHASES)
    assert "invariants_ok=True" in line
