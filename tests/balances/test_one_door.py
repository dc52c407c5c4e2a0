"""Money moves through one door: balances.services (ledger_post,
ledger_post_many, hold_place, hold_release). No module outside ``balances``
writes an account's balance, its holds or the ledger, by raw SQL, COPY or the
ORM."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Raw SQL that writes the tables, however it is sent, or their names handed
# to a helper that builds it (core.sql.update_from_values).
SQL_WRITE = re.compile(
    r"\b(INSERT\s+INTO|UPDATE|COPY|DELETE\s+FROM)\s+\"?balances_(account|ledgerentry)\b"
    r"|[\"']balances_(account|ledgerentry)[\"']",
    re.I,
)
# The models written directly: created in bulk or one by one, a balance or
# its overdrawn allowance updated, rows handed to a raw inserter.
ORM_WRITE = re.compile(
    r"\b(LedgerEntry\.objects\.(bulk_create|create|get_or_create|update_or_create)\("
    r"|Account\.objects\.(bulk_create|get_or_create|update_or_create)\("
    r"|(Account|LedgerEntry)\.objects\.[^\n]*\.update\([^)]*\b(balance|overdrawn|held)\s*=)"
)
RAW_INSERT = re.compile(r"\b\w*(insert_rows|_load|copy\w*)\(\s*(LedgerEntry|Account)\b")
PATTERNS = (SQL_WRITE, ORM_WRITE, RAW_INSERT)

# The benchmarks' synthetic portals, built by COPY into a scratch database
# before the night is timed (test data, not money moving), and the sweep's
# yardstick, which renews such a portal by hand-written SQL on purpose.
EXEMPT = {"renewals/bench.py", "renewals/bench_night.py", "renewals/bench_sql.py"}


def writes_money(text: str) -> list[str]:
    return [m.group(0) for pattern in PATTERNS for m in pattern.finditer(text)]


@pytest.mark.parametrize(
    "code",
    [
        # The forms the sweep's writer and the importer used before the door.
        'update_from_values(\n    "balances_account", ("id", "delta"), rows, set_sql="balance = ..."',
        "cursor.execute('UPDATE balances_account SET balance = balance + %s')",
        'cursor.copy_expert("COPY balances_ledgerentry (account_id, amount) FROM STDIN", buffer)',
        "insert_rows(\n        LedgerEntry,\n        columns, rows)",
        "LedgerEntry.objects.bulk_create(openings, batch_size=CHUNK)",
        "Account.objects.bulk_create([Account(customer=c, balance=r.balance)])",
        "Account.objects.filter(pk=pk).update(balance=F('balance') - 1)",
        'Account.objects.filter(pk=pk).update(held=F("held") + hold)',
    ],
)
def test_the_guard_finds_each_way_of_writing_money(code):
    assert writes_money(code)


def test_no_module_outside_balances_writes_an_accounts_money_or_the_ledger():
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.split("/")[0] in {".venv", "tests", "balances", "node_modules"} or relative in EXEMPT:
            continue
        for hit in writes_money(path.read_text(encoding="utf-8")):
            found.append(f"{relative}: {hit!r}")
    assert found == [], (
        "write money through balances.services (ledger_post, ledger_post_many, hold_place, hold_release)"
    )
