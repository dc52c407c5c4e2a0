"""Below the credit limit only by what the card processor took (SPEC "Money"):
refunds and disputes are recorded even there, every other debit is refused
by ``ledger_post`` and by the database's constraints, and a credit brings
the account back."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F

from balances.models import Account, EntryKind, LedgerEntry
from balances.rules import overdrawn_after, owed
from balances.services import account_update, ledger_post
from core.errors import DomainError, InsufficientFunds
from renewals.invariants import invariant_violations
from renewals.rules import Reason, batch_failure
from tests.factories import CustomerFactory

M = Decimal


@pytest.mark.parametrize(
    ("balance", "credit_limit", "owes"),
    [(M("10"), M("0"), M("0")), (M("-5"), M("5"), M("0")), (M("-8"), M("5"), M("3")), (M("-8"), M("0"), M("8"))],
)
def test_what_an_account_owes_is_how_far_below_its_limit_it_is(balance, credit_limit, owes):
    assert owed(balance, credit_limit) == owes


@pytest.mark.parametrize(
    ("overdrawn", "balance", "held", "amount", "processor", "after"),
    [
        (M("0"), M("-10"), M("0"), M("-30"), True, M("10")),  # a refund of 30 with 20 left: 10 below
        (M("0"), M("5"), M("0"), M("-30"), True, M("0")),  # the balance had it: nothing below
        (M("0"), M("10"), M("20"), M("-30"), True, M("10")),  # a hold in flight counts
        (M("10"), M("-15"), M("0"), M("-5"), True, M("15")),  # a second one adds its part
        (M("10"), M("-4"), M("0"), M("6"), False, M("4")),  # a credit lowers it to what is still below
        (M("10"), M("5"), M("0"), M("15"), False, M("0")),  # back above
        (M("10"), M("-10"), M("0"), M("-1"), False, M("10")),  # other debits never raise it
        (M("10"), M("3"), M("0"), M("-1"), False, M("0")),  # (a stale one after a hold was released)
    ],
)
def test_overdrawn_moves_with_the_processors_debits_and_every_credit(
    overdrawn, balance, held, amount, processor, after
):
    found = overdrawn_after(
        overdrawn=overdrawn, balance=balance, held=held, credit_limit=M("0"), amount=amount, processor=processor
    )
    assert found == after


@pytest.mark.parametrize("card_usable", [False, True])
def test_an_account_that_owes_renews_nothing_card_or_not(card_usable):
    # balance -10 with no credit limit: it owes 10.00, whatever would pay.
    found = batch_failure(
        balance_part=M("10"), card_part=M("0"), balance=M("-10"), credit_limit=M("0"), card_usable=card_usable
    )
    assert found == Reason.INSUFFICIENT_FUNDS
    at_the_limit = batch_failure(
        balance_part=M("10"), card_part=M("0"), balance=M("-5"), credit_limit=M("5"), card_usable=True
    )
    assert at_the_limit is None  # not below: a card may pay


def opened(system, balance: str, credit_limit: str = "0.00") -> Account:
    customer = CustomerFactory(account__credit_limit=M(credit_limit))
    ledger_post(actor=system, account_id=customer.pk, amount=M(balance), kind=EntryKind.CARD_TOP_UP)
    return Account.objects.get(pk=customer.pk)


@pytest.mark.django_db
def test_a_refund_is_recorded_below_the_limit_and_nothing_else_follows_it(system, assert_invariants):
    acct = opened(system, "20.00", credit_limit="5.00")
    ledger_post(actor=system, account_id=acct.pk, amount=M("-30.00"), kind=EntryKind.REFUND, reference="re_1")
    acct.refresh_from_db()
    assert (acct.balance, acct.overdrawn, acct.owes, acct.available) == (M("-10.00"), M("5.00"), M("5.00"), M("-5.00"))
    assert_invariants()
    with pytest.raises(InsufficientFunds):
        ledger_post(actor=system, account_id=acct.pk, amount=M("-0.01"), kind=EntryKind.ADJUSTMENT)
    # The database refuses it too, for a writer that bypasses the service (the renewals writer's UPDATE).
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=acct.pk).update(balance=F("balance") - M("0.01"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=acct.pk).update(held=M("0.01"))
    # A dispute adds its own part; a top-up brings it back, step by step.
    ledger_post(actor=system, account_id=acct.pk, amount=M("-2.00"), kind=EntryKind.DISPUTE, reference="dp_1")
    ledger_post(actor=system, account_id=acct.pk, amount=M("4.00"), kind=EntryKind.TOP_UP)
    acct.refresh_from_db()
    assert (acct.balance, acct.overdrawn, acct.owes) == (M("-8.00"), M("3.00"), M("3.00"))
    ledger_post(actor=system, account_id=acct.pk, amount=M("2.00"), kind=EntryKind.DISPUTE_REVERSAL, reference="dp_1")
    ledger_post(actor=system, account_id=acct.pk, amount=M("1.00"), kind=EntryKind.TOP_UP)
    acct.refresh_from_db()
    assert (acct.balance, acct.overdrawn, acct.owes) == (M("-5.00"), M("0.00"), M("0.00"))
    # At the limit again: the next debit is refused by the database as before.
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=acct.pk).update(balance=F("balance") - M("0.01"))
    assert_invariants()


@pytest.mark.django_db
def test_each_processor_object_is_posted_once_per_kind_and_names_its_id(system):
    acct = opened(system, "50.00")
    ledger_post(actor=system, account_id=acct.pk, amount=M("-5.00"), kind=EntryKind.DISPUTE, reference="dp_1")
    ledger_post(actor=system, account_id=acct.pk, amount=M("5.00"), kind=EntryKind.DISPUTE_REVERSAL, reference="dp_1")
    with pytest.raises(IntegrityError), transaction.atomic():
        ledger_post(actor=system, account_id=acct.pk, amount=M("-5.00"), kind=EntryKind.DISPUTE, reference="dp_1")
    with pytest.raises(DomainError, match="names the processor's object"):
        ledger_post(actor=system, account_id=acct.pk, amount=M("-5.00"), kind=EntryKind.REFUND)
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(
            account=acct, kind="refund", amount=M("-1"), balance_after=M("49"), business_date="2026-12-01"
        )
    # Other kinds may share a reference (an invoice number, a payment intent).
    ledger_post(actor=system, account_id=acct.pk, amount=M("1.00"), kind=EntryKind.TOP_UP, reference="pi_1")
    ledger_post(actor=system, account_id=acct.pk, amount=M("1.00"), kind=EntryKind.TOP_UP, reference="pi_1")
    assert Account.objects.get(pk=acct.pk).balance == M("52.00")


@pytest.mark.django_db
def test_a_higher_credit_limit_covers_what_is_owed_and_a_lower_one_is_refused(system, assert_invariants):
    acct = opened(system, "20.00", credit_limit="0.00")
    ledger_post(actor=system, account_id=acct.pk, amount=M("-30.00"), kind=EntryKind.REFUND, reference="re_1")
    account_update(actor=system, account_id=acct.pk, credit_limit=M("4.00"))
    acct.refresh_from_db()
    assert (acct.balance, acct.overdrawn, acct.owes) == (M("-10.00"), M("6.00"), M("6.00"))
    account_update(actor=system, account_id=acct.pk, credit_limit=M("15.00"))
    acct.refresh_from_db()
    assert (acct.overdrawn, acct.owes, acct.available) == (M("0.00"), M("0.00"), M("5.00"))
    with pytest.raises(DomainError, match="cannot be lower than 10.00"):
        account_update(actor=system, account_id=acct.pk, credit_limit=M("9.00"))
    assert_invariants()


@pytest.mark.django_db
def test_the_invariants_catch_an_overdraft_the_processor_did_not_cause(system):
    acct = opened(system, "10.00")
    ledger_post(actor=system, account_id=acct.pk, amount=M("-12.00"), kind=EntryKind.REFUND, reference="re_1")
    other = opened(system, "10.00")
    assert invariant_violations() == []
    # A bug that let another writer raise it: the database allows it, the check does not.
    Account.objects.filter(pk=other.pk).update(overdrawn=M("5.00"))
    Account.objects.filter(pk=acct.pk).update(overdrawn=M("12.01"))
    assert sorted(invariant_violations()) == [
        f"account {acct.customer.ref}: overdrawn 12.01 but the processor took only 12.00",
        f"account {other.customer.ref}: overdrawn 5.00 but the processor took only 0.00",
    ]
