"""Row locks and triggers, proven with real concurrent PostgreSQL connections."""

from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent
from balances.models import Account, EntryKind, LedgerEntry
from balances.services import ledger_post
from core.errors import InsufficientFunds
from tenants.scope import Actor
from tests.factories import CustomerFactory
from tests.helpers import run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def opened(balance, credit_limit):
    customer = CustomerFactory(account__credit_limit=Decimal(credit_limit))
    ledger_post(actor=Actor.system("t"), account_id=customer.pk, amount=Decimal(balance), kind=EntryKind.OPENING)
    return customer.pk


def test_two_concurrent_debits_never_pass_the_credit_limit(assert_invariants):
    # 100 + 50 credit = 150 available; two debits of 100 at once: one must lose.
    account_id = opened("100.00", "50.00")

    def debit():
        return ledger_post(actor=Actor.system("t"), account_id=account_id, amount=Decimal("-100.00"), kind="renewal")

    results = run_concurrently([debit, debit])
    assert sum(isinstance(r, LedgerEntry) for r in results) == 1
    assert sum(isinstance(r, InsufficientFunds) for r in results) == 1
    account = Account.objects.get(pk=account_id)
    assert account.balance == Decimal("0.00")
    assert_invariants()


def test_many_concurrent_debits_take_exactly_what_is_available(assert_invariants):
    # 100 + 50 = 150 available, eight debits of 30: exactly five fit.
    account_id = opened("100.00", "50.00")

    def debit():
        return ledger_post(actor=Actor.system("t"), account_id=account_id, amount=Decimal("-30.00"), kind="renewal")

    results = run_concurrently([debit] * 8)
    assert Account.objects.get(pk=account_id).balance == Decimal("-50.00")
    assert LedgerEntry.objects.filter(account_id=account_id, kind="renewal").count() == 5
    assert all(isinstance(r, InsufficientFunds) for r in results if not isinstance(r, LedgerEntry))
    assert_invariants()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE balances_ledgerentry SET amount = amount + 1",
        "UPDATE balances_ledgerentry SET memo = 'edited'",
        "DELETE FROM balances_ledgerentry",
    ],
)
def test_a_ledger_row_cannot_be_updated_or_deleted(statement):
    opened("10.00", "0.00")
    with pytest.raises(DatabaseError, match="balances_ledgerentry is append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement)
    entry = LedgerEntry.objects.get()
    assert (entry.amount, entry.memo) == (Decimal("10.00"), "")


def test_the_orm_cannot_update_or_delete_a_ledger_row_either():
    opened("10.00", "0.00")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.update(memo="x")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.all().delete()
    assert LedgerEntry.objects.count() == 1


def test_the_audit_log_is_append_only_too():
    opened("10.00", "0.00")
    assert AuditEvent.objects.exists()
    with pytest.raises(DatabaseError, match="audit_auditevent is append-only"), transaction.atomic():
        AuditEvent.objects.update(reason="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.all().delete()
