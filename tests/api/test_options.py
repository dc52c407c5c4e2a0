"""OPTIONS (DRF's metadata) on every API path answers without a server
error, for every kind of login: it describes a view's POST from its
serializer, which a view may not declare."""

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

PATHS = sorted(SchemaGenerator().get_schema(request=None, public=True)["paths"])


@pytest.mark.parametrize("login", ["owner", "acme", None])
def test_options_on_every_api_path_is_not_a_server_error(api, client, login):
    caller = api(login) if login else client
    failures = []
    for template in PATHS:
        path = re.sub(r"\{[^}]+\}", "1", template)
        response = caller.options(path)
        if response.status_code >= 500:
            failures.append((path, response.status_code))
    assert failures == []
