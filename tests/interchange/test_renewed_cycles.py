"""A re-import never sets an order's paid-thru date back to a cycle that was
already renewed (SPEC "Orders"): that row is an error in the file."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from invoices.models import Invoice
from orders.models import Order

pytestmark = pytest.mark.django_db


def test_reimporting_yesterdays_export_after_tonights_renewal_is_refused(doc, write, export, snapshot):
    doc["orders"].append(dict(doc["orders"][0], ref="o2", expires_on="2027-03-01"))  # not due tonight
    call_command("import_portal", write(doc))
    yesterday = export()
    call_command("run_renewals", "--date", "2026-12-01", verbosity=0)  # renews o1 to 2027-01-01
    number = Invoice.objects.get().number
    assert Order.objects.get(ref="o1").expires_on.isoformat() == "2027-01-01"
    before = snapshot()
    with pytest.raises(CommandError) as refused:
        call_command("import_portal", write(yesterday, "yesterday.json"))
    assert refused.value.returncode == 1
    assert (
        f"orders[0].expires_on: 2026-12-01 is before 2027-01-01, the end of a renewal already paid "
        f"(invoice {number}); a re-import cannot set a paid-thru date back"
    ) in str(refused.value)
    assert "orders[1]" not in str(refused.value)
    assert snapshot() == before  # all or nothing: nothing written
    # Tonight's export goes back in unchanged, and a later paid-thru date is taken.
    call_command("import_portal", write(export(), "tonight.json"))
    assert snapshot() == before
    later = export()
    later["orders"][0]["expires_on"] = "2027-02-01"
    later["orders"][0]["anchor_day"] = 1
    call_command("import_portal", write(later, "later.json"))
    assert Order.objects.get(ref="o1").expires_on.isoformat() == "2027-02-01"
