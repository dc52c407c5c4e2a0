"""Gapless invoice numbers per reseller.

Invoices themselves are written by the renewal writer (renewals/writer.py), in
the payment's transaction: an invoice exists only for a paid renewal.
"""

import datetime

from invoices.models import InvoiceSequence
from invoices.rules import invoice_number
from tenants.models import Reseller


def invoice_numbers_take(*, counts: dict[int, int], on: datetime.date) -> dict[int, list[tuple[int, str]]]:
    """Take the next ``counts[reseller]`` numbers of each reseller, under the
    sequence rows' locks (taken in id order). Call inside the transaction that
    writes the invoices: a rollback gives the numbers back, so none is burnt.
    Returns {reseller_id: [(sequence, number), ...]} in order."""
    resellers = sorted(counts)
    InvoiceSequence.objects.bulk_create([InvoiceSequence(reseller_id=r) for r in resellers], ignore_conflicts=True)
    last = dict(
        InvoiceSequence.objects.select_for_update()
        .filter(reseller_id__in=resellers)
        .order_by("pk")
        .values_list("reseller_id", "last_number")
    )
    prefixes = dict(Reseller.objects.filter(pk__in=resellers).values_list("pk", "invoice_prefix"))
    taken = {}
    for reseller_id in resellers:
        first = last[reseller_id] + 1
        sequences = range(first, first + counts[reseller_id])
        taken[reseller_id] = [(seq, invoice_number(prefixes[reseller_id], on, seq)) for seq in sequences]
        InvoiceSequence.objects.filter(reseller_id=reseller_id).update(last_number=first + counts[reseller_id] - 1)
    return taken
