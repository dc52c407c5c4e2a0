"""The checked-in OpenAPI schema (docs/api/openapi.yaml) is the one the code
generates: clients and the API fuzzing in CI (.ci/fuzz-api) read it, so it may
not drift from the views."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "docs" / "api" / "openapi.yaml"


def test_the_checked_in_schema_is_up_to_date(tmp_path):
    generated = tmp_path / "openapi.yaml"
    # Generated as `make schema` does: the default settings on the embedded
    # SQLite (never connected to), whatever database this suite runs on, since
    # a model integer field's limits in the schema follow the database backend.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env["DEBUG"] = "1"
    command = [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(generated)]

    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 0, f"the schema does not generate cleanly:\n{result.stderr}"
    assert CHECKED_IN.exists(), "docs/api/openapi.yaml is missing: run `make schema` and commit it"
    assert generated.read_text() == CHECKED_IN.read_text(), (
        "docs/api/openapi.yaml is out of date with the API's views and serializers: "
        "run `make schema` and commit the result"
    )
