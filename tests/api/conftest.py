"""The API tests' fixtures: the panels' three-tenant portal (tests/panels/conftest.py)
and API clients signed in with a token."""

import pytest
from rest_framework.test import APIClient

from logins.services import token_issue
from tests.panels.conftest import Tenants, tenants  # noqa: F401 - the shared three-tenant portal


@pytest.fixture
def api(tenants):  # noqa: F811
    """api("owner") -> an APIClient authenticated with that login's token
    (issued on the first call: a new token replaces the login's old one)."""
    keys: dict[str, str] = {}

    def client(username: str) -> APIClient:
        if username not in keys:
            keys[username] = token_issue(user=tenants.users[username])
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Token {keys[username]}")
        return c

    return client


__all__ = ["Tenants"]
