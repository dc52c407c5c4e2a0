from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from audit.models import AuditEvent
from balances.models import Account, EntryKind, LedgerEntry
from balances.services import account_update, ledger_post
from core.errors import DomainError, InsufficientFunds
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def account(balance="0.00", credit_limit="0.00"):
    customer = CustomerFactory(account__credit_limit=Decimal(credit_limit))
    if Decimal(balance):
        ledger_post(
            actor=_actor(), account_id=customer.pk, amount=Decimal(balance), kind=EntryKind.OPENING, memo="opening"
        )
    return Account.objects.get(pk=customer.pk)


def _actor():
    from tenants.scope import Actor

    return Actor.system("test")


def test_post_moves_balance_with_its_entry(system, assert_invariants):
    acct = account("50.00")
    entry = ledger_post(actor=system, account_id=acct.pk, amount=Decimal("-20.00"), kind=EntryKind.RENEWAL)
    acct.refresh_from_db()
    assert acct.balance == Decimal("30.00")
    assert entry.balance_after == Decimal("30.00")
    assert list(acct.entries.values_list("amount", flat=True)) == [Decimal("50.00"), Decimal("-20.00")]
    assert AuditEvent.objects.filter(action="ledger.renewal", before="50.00", after="30.00").count() == 1
    assert_invariants()


def test_debit_may_use_the_credit_limit_but_not_beyond(system, assert_invariants):
    acct = account("10.00", credit_limit="40.00")
    ledger_post(actor=system, account_id=acct.pk, amount=Decimal("-50.00"), kind=EntryKind.RENEWAL)
    with pytest.raises(InsufficientFunds, match=r"only 0\.00 is \(balance -40\.00 \+ credit limit 40\.00\)"):
        ledger_post(actor=system, account_id=acct.pk, amount=Decimal("-0.01"), kind=EntryKind.RENEWAL)
    acct.refresh_from_db()
    assert acct.balance == Decimal("-40.00")
    assert acct.entries.count() == 2
    assert_invariants()


def test_refused_debit_changes_nothing(system):
    acct = account("5.00")
    with pytest.raises(InsufficientFunds):
        ledger_post(actor=system, account_id=acct.pk, amount=Decimal("-5.01"), kind=EntryKind.RENEWAL)
    acct.refresh_from_db()
    assert acct.balance == Decimal("5.00")
    assert acct.entries.count() == 1
    assert not AuditEvent.objects.filter(action="ledger.renewal").exists()


@pytest.mark.parametrize(
    ("amount", "kind", "message"),
    [
        (Decimal("0"), EntryKind.TOP_UP, "must not be zero"),
        (Decimal("1.005"), EntryKind.TOP_UP, r"1\.005 is finer than USD's minor unit \(USD has 2 decimal places\)"),
        (Decimal("1.00"), "gift", "unknown ledger entry kind"),
    ],
)
def test_bad_postings_are_refused(system, amount, kind, message):
    acct = account()
    with pytest.raises(DomainError, match=message):
        ledger_post(actor=system, account_id=acct.pk, amount=amount, kind=kind)
    assert not LedgerEntry.objects.exists()


def test_database_refuses_a_balance_below_the_credit_limit():
    acct = account("10.00", credit_limit="5.00")
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=acct.pk).update(balance=Decimal("-5.01"))
    Account.objects.filter(pk=acct.pk).update(balance=Decimal("-5.00"))  # the edge itself is allowed


def test_credit_limit_cannot_drop_below_the_debt(system):
    acct = account("0.00", credit_limit="50.00")
    ledger_post(actor=system, account_id=acct.pk, amount=Decimal("-30.00"), kind=EntryKind.RENEWAL)
    with pytest.raises(DomainError, match="credit limit cannot be lower than 30.00"):
        account_update(actor=system, account_id=acct.pk, credit_limit=Decimal("20.00"))
    assert account_update(actor=system, account_id=acct.pk, credit_limit=Decimal("30.00")) == ["credit_limit"]


def test_currency_is_fixed_once_money_moved(system):
    acct = account("1.00")
    with pytest.raises(DomainError, match="keeps its currency"):
        account_update(actor=system, account_id=acct.pk, currency="EUR")


@pytest.mark.parametrize(
    ("currency", "fine", "finer", "shown"),
    [("JPY", "1000", "1000.5", "1000"), ("USD", "10.01", "10.005", "10.01"), ("KWD", "1.005", "1.0005", "1.005")],
)
def test_postings_keep_to_the_accounts_minor_unit(system, currency, fine, finer, shown, assert_invariants):
    customer = CustomerFactory(account__currency=currency)
    with pytest.raises(DomainError, match=f"is finer than {currency}'s minor unit"):
        ledger_post(actor=system, account_id=customer.pk, amount=Decimal(finer), kind=EntryKind.TOP_UP)
    entry = ledger_post(actor=system, account_id=customer.pk, amount=Decimal(fine), kind=EntryKind.TOP_UP)
    assert entry.amount == Decimal(fine)
    # The audit log says the balance as the currency writes it.
    assert AuditEvent.objects.get(action="ledger.top_up").after == shown
    assert LedgerEntry.objects.count() == 1
    assert_invariants()
