import datetime
import io
import json

import pytest
from django.core.management import call_command

from interchange.importer import portal_import
from tenants.scope import Actor

D = datetime.date


def order(ref, expires_on, *, customer="c1", plan="basic", tenure=1, **extra):
    return {
        "ref": ref,
        "customer": customer,
        "plan": plan,
        "tenure_months": tenure,
        "expires_on": expires_on if isinstance(expires_on, str) or expires_on is None else expires_on.isoformat(),
        "auto_renew": True,
        **extra,
    }


def portal_document(orders, *, customers=None, plans=None, resellers=None, categories=None):
    return {
        "format": "renewal-portal/v1",
        "currency": "USD",
        "resellers": resellers or [{"ref": "r1", "name": "Acme Hosting", "email": "billing@acme.test"}],
        "categories": categories
        or [
            {"ref": "hosting", "name": "Web hosting", "grace_days": 15},
            {"ref": "ssl", "name": "SSL", "grace_days": 7, "auto_renew_supported": False},
        ],
        "plans": plans
        or [
            {
                "ref": "basic",
                "name": "Basic",
                "category": "hosting",
                "prices": {"1": "10.00", "3": "27.00", "12": "100.00"},
            },
            {"ref": "cert", "name": "Cert", "category": "ssl", "prices": {"12": "15.00"}},
            {"ref": "life", "name": "Lifetime", "category": "hosting", "prices": {"1": "0.00"}, "endless": True},
        ],
        "customers": customers
        or [{"ref": "c1", "name": "Jane Doe", "email": "jane@example.test", "reseller": "r1", "balance": "100.00"}],
        "orders": orders,
    }


@pytest.fixture
def portal(db):
    """Load a portal through the importer: portal([order(...)], customers=[...])."""

    def load(orders, **kwargs):
        portal_import(data=portal_document(orders, **kwargs), actor=Actor.system("test"))

    return load


@pytest.fixture
def run():
    """run(date, dry_run=False) -> the run_renewals --json report, via the command."""

    def run(on, *, dry_run=False):
        out = io.StringIO()
        args = ["run_renewals", "--date", on.isoformat(), "--json"] + (["--dry-run"] if dry_run else [])
        call_command(*args, stdout=out)
        return json.loads(out.getvalue())

    return run


@pytest.fixture
def snapshot_db():
    """Row counts of every table plus the export: "nothing was written"."""
    from django.apps import apps

    from interchange.exporter import portal_export

    def snapshot():
        return portal_export(), {m._meta.label: m._default_manager.count() for m in apps.get_models()}

    return snapshot
