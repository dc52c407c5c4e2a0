"""The checked-in OpenAPI schema (docs/api/openapi.yaml) is the one the code
generates: clients and the API fuzzing in CI (.ci/fuzz-api) read it, so it may
not drift from the views."""

import os
import pathlib
import subprocess
import sys

import pytest
from django.urls import reverse

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


@pytest.mark.django_db
def test_the_browsable_docs_are_served_from_the_project(client, tenants):
    """Swagger UI and ReDoc load their assets from our own static files (no CDN:
    there may be no internet where the portal runs)."""
    client.force_login(tenants.users["owner"])
    for name in ("api-docs", "api-redoc"):
        page = client.get(reverse(name)).content.decode()
        assert "/static/drf_spectacular_sidecar/" in page, name
        assert "cdn" not in page.lower(), name
