import io
import json

import pytest
from django.core.management import call_command


@pytest.mark.django_db(transaction=True)
def test_bench_sweep_on_a_thousand_orders_keeps_the_invariants():
    out = io.StringIO()
    call_command("bench_sweep", "--orders", "1000", "--date", "2026-12-01", "--json", stdout=out)
    figures = json.loads(out.getvalue())
    assert figures["orders"] == 1000
    assert figures["accounts"] == 334
    assert figures["renewed"] == 1000
    assert figures["invariants_ok"] is True
    assert figures["queries"] < 100  # a bounded number per batch of accounts, not per order
    assert set(figures) == {
        "orders", "accounts", "renewed", "seconds", "orders_per_s", "queries", "peak_rss_mb", "invariants_ok",
    }  # fmt: skip
