from tests.renewals.conftest import portal  # noqa: F401 - the shared portal loader fixture
