"""Long commands show progress on a terminal (stderr) and stay quiet for
scripts: with --json, --no-progress, or no terminal, stderr holds no bar and
stdout only the report."""

import datetime
import io
import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from core.progress import Progress, progress_wanted
from interchange.exporter import portal_export
from interchange.importer import portal_import
from renewals.models import BatchAttempt, RunOutcome, SweepRun
from tenants.scope import Actor
from tests.renewals.conftest import order, portal_document

D = datetime.date


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as an operator's stderr would."""

    def isatty(self):
        return True


def bars(text):
    # tqdm redraws its line with a carriage return and draws "|" around the bar.
    return "\r" in text or "%|" in text


@pytest.mark.parametrize(
    ("stream", "options", "shown"),
    [
        (Terminal(), {}, True),
        (Terminal(), {"json": True}, False),
        (Terminal(), {"no_progress": True}, False),
        (io.StringIO(), {}, False),
        (object(), {}, False),
    ],
    ids=["terminal", "json", "no-progress", "pipe", "no-isatty"],
)
def test_progress_only_for_a_person_at_a_terminal(stream, options, shown):
    assert progress_wanted(stream, options) is shown


def test_one_bar_per_phase_with_its_counts():
    stream = Terminal()
    progress = Progress(stream)
    progress("lifecycle", 1, 1)
    progress("accounts", 500, None)
    progress("accounts", 1200, None)
    progress("notices", 3, 3)
    progress.close()
    text = stream.getvalue()
    assert "lifecycle: 100%" in text
    assert "accounts: 1200" in text
    assert "notices: 100%" in text


def test_a_quiet_progress_is_false_and_writes_nothing():
    progress = Progress()
    progress("accounts", 10, None)
    progress.close()
    assert not progress


@pytest.fixture
def due_portal(db):
    """Two accounts due on 2026-12-03: c1 renews, c2 fails (insufficient funds)."""
    portal_import(
        data=portal_document(
            [order("o1", D(2026, 12, 10)), order("o2", D(2026, 12, 10), customer="c2")],
            customers=[
                {"ref": "c1", "name": "Jane", "reseller": "r1", "balance": "100.00"},
                {"ref": "c2", "name": "Joe", "reseller": "r1", "balance": "0.00"},
            ],
        ),
        actor=Actor.system("test"),
    )


def run_renewals(*args, stderr):
    out = io.StringIO()
    call_command("run_renewals", "--date", "2026-12-03", *args, stdout=out, stderr=stderr)
    return out.getvalue()


def test_run_renewals_on_a_terminal_shows_each_phase_on_stderr_and_only_the_report_on_stdout(due_portal):
    stderr = Terminal()
    stdout = run_renewals(stderr=stderr)
    assert "lifecycle: 100%" in stderr.getvalue()
    assert "accounts: 2" in stderr.getvalue()
    assert "notices: 100%" in stderr.getvalue()
    assert not bars(stdout)
    assert stdout.startswith("2026-12-03")


def test_run_renewals_dry_run_shows_its_planning(due_portal):
    stderr = Terminal()
    run_renewals("--dry-run", stderr=stderr)
    assert "accounts planned: 2" in stderr.getvalue()


@pytest.mark.parametrize(
    ("args", "stderr"),
    [(["--json"], Terminal()), (["--no-progress"], Terminal()), ([], io.StringIO())],
    ids=["json", "no-progress", "no-terminal"],
)
def test_run_renewals_stays_quiet_for_scripts(due_portal, args, stderr):
    stdout = run_renewals(*args, stderr=stderr)
    assert stderr.getvalue() == ""
    if "--json" in args:
        assert json.loads(stdout)["date"] == "2026-12-03"


def test_run_renewals_completes_the_date_with_a_failed_batch(due_portal):
    # No exception: the command exits 0; the failed batch is in the report.
    report = json.loads(run_renewals("--json", stderr=io.StringIO()))
    assert {b["customer"]: b["outcome"] for b in report["batches"]} == {"c1": "renewed", "c2": "failed"}
    assert SweepRun.objects.get().outcome == RunOutcome.COMPLETED


def test_run_renewals_that_cannot_complete_raises_a_one_line_command_error(due_portal, monkeypatch):
    def broken(**kwargs):
        raise ConnectionError("the database went away\nsecond line of detail")

    monkeypatch.setattr("renewals.management.commands.run_renewals.sweep_run", broken)
    with pytest.raises(CommandError) as raised:
        run_renewals(stderr=io.StringIO())
    assert raised.value.returncode == 1
    assert str(raised.value) == (
        "2026-12-03 could not complete: ConnectionError: the database went away (run it again; --traceback for details)"
    )
    assert not BatchAttempt.objects.exists()


def test_run_renewals_exits_1_with_one_line_and_no_traceback(tmp_path):
    # A real process on a database without tables: the run cannot even start.
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "billing_portal.settings_test",
        "REDIS_URL": "",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "run_renewals", "--date", "2026-12-03"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("CommandError: 2026-12-03 could not complete: OperationalError: no such table")
    assert "Traceback" not in result.stderr


def test_export_to_a_file_counts_the_objects_on_a_terminal(due_portal, tmp_path):
    target = tmp_path / "portal.json"
    stderr = Terminal()
    call_command("export_portal", "--output", str(target), stderr=stderr)
    assert "objects written:" in stderr.getvalue()
    assert json.loads(target.read_text()) == portal_export()


def test_export_to_stdout_keeps_the_bars_on_stderr(due_portal):
    stdout, stderr = io.StringIO(), Terminal()
    call_command("export_portal", stdout=stdout, stderr=stderr)
    assert bars(stderr.getvalue())
    assert json.loads(stdout.getvalue()) == portal_export()


def test_export_without_a_terminal_writes_no_bar(due_portal):
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("export_portal", stdout=stdout, stderr=stderr)
    assert stderr.getvalue() == ""
    assert json.loads(stdout.getvalue()) == portal_export()


def test_import_shows_reading_and_loading_on_a_terminal(db, tmp_path):
    source = tmp_path / "portal.json"
    source.write_text(json.dumps(portal_document([order("o1", D(2026, 12, 10))])))
    stdout, stderr = io.StringIO(), Terminal()
    call_command("import_portal", str(source), stdout=stdout, stderr=stderr)
    assert "read: 100%" in stderr.getvalue()
    assert "check and load: 100%" in stderr.getvalue()
    assert stdout.getvalue().startswith(f"Imported {source}: resellers: 1 created")


def test_import_without_a_terminal_writes_only_its_summary(db, tmp_path):
    source = tmp_path / "portal.json"
    source.write_text(json.dumps(portal_document([order("o1", D(2026, 12, 10))])))
    stdout, stderr = io.StringIO(), Terminal()
    call_command("import_portal", str(source), "--no-progress", stdout=stdout, stderr=stderr)
    assert stderr.getvalue() == ""
    assert not bars(stdout.getvalue())


@pytest.mark.django_db(transaction=True)
def test_bench_sweep_shows_the_build_and_the_sweep_unless_json():
    stdout, stderr = io.StringIO(), Terminal()
    call_command("bench_sweep", "--orders", "30", "--date", "2026-12-01", stdout=stdout, stderr=stderr)
    assert "build: 100%" in stderr.getvalue()
    assert "accounts: 10" in stderr.getvalue()
    assert stdout.getvalue().startswith("built in")
    quiet = Terminal()
    call_command("bench_sweep", "--orders", "30", "--date", "2026-12-02", "--json", stdout=io.StringIO(), stderr=quiet)
    assert quiet.getvalue() == ""
