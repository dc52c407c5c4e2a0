"""The API tests' fixtures: the panels' three-tenant portal (tests/panels/conftest.py)
and API clients signed in with a token."""

import pytest
from rest_framework.test import APIClient

from api.services import token_issue
from tests.panels.conftest import Tenants, tenants  # noqa: F401 - the shared three-tenant portal


@pytest.fixture
def api(tenants):  # noqa: F811
    """api("owner") -> an APIClient authenticated with that login's token."""

    def client(username: str) -> APIClient:
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=tenants.users[username])}")
        return c

    return client


__all__ = ["Tenants"]
