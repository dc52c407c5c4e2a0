from tests.payments.test_refund_admin import paid  # noqa: F401 - c1 topped up 30.00 by card (localstripe)
from tests.renewals.conftest import portal  # noqa: F401 - the shared portal loader
