import copy
import io
import json

import pytest
from django.apps import apps
from django.core.management import call_command

SPEC_EXAMPLE = {
    "format": "renewal-portal/v1",
    "currency": "USD",
    "resellers": [
        {"ref": "r1", "name": "Acme Hosting", "email": "billing@acme.test", "parent": None, "allow_auto_renew": True}
    ],
    "categories": [{"ref": "hosting", "name": "Web hosting", "grace_days": 15, "auto_renew_supported": True}],
    "plans": [
        {
            "ref": "basic",
            "name": "Basic",
            "category": "hosting",
            "prices": {"1": "10.00", "3": "27.00", "12": "100.00"},
            "endless": False,
            "auto_renew_allowed": True,
            "lead_days": None,
        }
    ],
    "customers": [
        {
            "ref": "c1",
            "name": "Jane Doe",
            "email": "jane@example.test",
            "reseller": "r1",
            "balance": "50.00",
            "credit_limit": "0.00",
            "auto_renew": True,
        }
    ],
    "orders": [
        {
            "ref": "o1",
            "customer": "c1",
            "plan": "basic",
            "tenure_months": 1,
            "expires_on": "2026-12-01",
            "status": "active",
            "auto_renew": True,
            "payment_source": "balance",
            "locked": False,
            "stopped": False,
            "pending_action": False,
            "do_not_renew": False,
            "auto_renew_locked": False,
        }
    ],
}


@pytest.fixture
def doc():
    """A fresh copy of SPEC.md's example file."""
    return copy.deepcopy(SPEC_EXAMPLE)


@pytest.fixture
def write(tmp_path):
    def write(data, name="portal.json"):
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return str(path)

    return write


@pytest.fixture
def export():
    def export():
        out = io.StringIO()
        call_command("export_portal", stdout=out)
        return json.loads(out.getvalue())

    return export


@pytest.fixture
def snapshot(export):
    """Everything the database holds, for "nothing changed" assertions: the
    export plus the row count of every table (audit log and ledger included)."""

    def snapshot():
        counts = {m._meta.label: m._default_manager.count() for m in apps.get_models()}
        return export(), counts

    return snapshot
