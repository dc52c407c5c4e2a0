"""The status page's chart, drawn on the server: plain values in, SVG
coordinates out (no database)."""

import datetime

import pytest

from core.isolation import first_line
from renewals.models import RunOutcome, SweepRun
from renewals.status import CHART_PLOT, runs_chart

D = datetime.date


def night(day, outcome=RunOutcome.COMPLETED, duration_ms=None, renewed=0, failed=0):
    return SweepRun(
        business_date=D(2026, 12, day),
        outcome=outcome,
        duration_ms=duration_ms,
        batches_renewed=renewed,
        batches_failed=failed,
    )


def bars_of(chart, kind):
    return [bar for bar in chart.bars if bar.kind == kind]


def test_the_longest_night_fills_the_plot_and_the_others_scale_to_it():
    chart = runs_chart([night(1, duration_ms=2000), night(2, duration_ms=4000), night(3, duration_ms=0)])
    heights = [bar.height for bar in bars_of(chart, RunOutcome.COMPLETED)]
    assert chart.max_seconds == 4
    assert heights == [CHART_PLOT // 2, CHART_PLOT, 0]
    # Bars stand on the same baseline, left to right in date order.
    assert {bar.y + bar.height for bar in bars_of(chart, RunOutcome.COMPLETED)} == {chart.duration_base}
    assert [label.text for label in chart.labels] == ["12-01", "12-02", "12-03"]
    assert [bar.x for bar in bars_of(chart, RunOutcome.COMPLETED)] == sorted(
        bar.x for bar in bars_of(chart, RunOutcome.COMPLETED)
    )


def test_renewed_and_failed_accounts_share_one_scale():
    chart = runs_chart([night(1, duration_ms=10, renewed=100, failed=1), night(2, duration_ms=10, renewed=50)])
    assert chart.max_accounts == 100
    assert [bar.height for bar in bars_of(chart, "renewed")] == [CHART_PLOT, CHART_PLOT // 2]
    # One failed account of a hundred still shows (a hairline), none shows nothing.
    assert [bar.height for bar in bars_of(chart, "failed-batches")] == [1, 0]
    assert bars_of(chart, "failed-batches")[0].title == "2026-12-01: 1 accounts failed"


@pytest.mark.parametrize("outcome", [RunOutcome.FAILED, RunOutcome.RUNNING])
def test_a_night_without_a_duration_is_a_full_band_in_its_colour(outcome):
    chart = runs_chart([night(1, duration_ms=3000), night(2, outcome=outcome)])
    (band,) = bars_of(chart, outcome)
    assert band.height == CHART_PLOT
    assert band.title == f"2026-12-02: {outcome.label.lower()}"


def test_no_runs_draws_an_empty_chart():
    chart = runs_chart([])
    assert chart.bars == []
    assert chart.labels == []
    assert chart.width > chart.left


@pytest.mark.parametrize(
    ("text", "line"),
    [("", ""), ("ValueError: x\n  at y", "ValueError: x"), ("\n  KeyError: 3\n", "KeyError: 3"), ("  \n", "")],
)
def test_first_line(text, line):
    assert first_line(text) == line
