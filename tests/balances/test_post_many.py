"""ledger_post_many: the ledger's set-based door, with ledger_post's rules
(the same refusals, the same effect on the balance and on ``overdrawn``),
its audit records, and a fixed number of statements."""

import dataclasses
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from balances.models import Account, EntryKind, LedgerEntry
from balances.rules import overdrawn_after
from balances.services import Posting, ledger_post, ledger_post_many
from core.errors import DomainError, InsufficientFunds, NotFound
from core.request_context import serving
from tenants.scope import Actor
from tests.factories import CustomerFactory
from tests.helpers import run_concurrently

M = Decimal
CLIENT = "203.0.113.9"


def opened(balance: str, credit_limit: str = "0.00", currency: str = "USD") -> Account:
    customer = CustomerFactory(account__credit_limit=M(credit_limit), account__currency=currency)
    if M(balance):
        ledger_post(actor=Actor.system("t"), account_id=customer.pk, amount=M(balance), kind=EntryKind.OPENING)
    return Account.objects.select_related("customer").get(pk=customer.pk)


def debit(account: Account, amount: str, **fields) -> Posting:
    return Posting(account_id=account.pk, amount=M(amount), kind=EntryKind.RENEWAL, currency="USD", **fields)


@pytest.mark.django_db
def test_each_entry_moves_its_balance_with_its_audit_record(assert_invariants):
    # given: three accounts, one using its credit limit
    a, b, c = opened("50.00"), opened("10.00", credit_limit="40.00"), opened("5.00")
    # when: a debit for two and a credit for the third, while serving a request
    with serving(CLIENT), transaction.atomic():
        posted = ledger_post_many(
            actor=Actor.system("t"),
            postings=[
                debit(a, "-20.00", memo="Renewal: 2 order(s)", reference="INV-1", reason="INV-1"),
                debit(b, "-50.00", memo="Renewal: 1 order(s)", reference="INV-2", reason="INV-2"),
                Posting(account_id=c.pk, amount=M("7.50"), kind=EntryKind.TOP_UP, currency="USD", memo="wire"),
            ],
        )
    # then: each balance moved, each entry says where it left it
    assert [(p.account_id, p.balance_before, p.balance_after) for p in posted] == [
        (a.pk, M("50.00"), M("30.00")),
        (b.pk, M("10.00"), M("-40.00")),
        (c.pk, M("5.00"), M("12.50")),
    ]
    balances = dict(Account.objects.filter(pk__in=[a.pk, b.pk, c.pk]).values_list("pk", "balance"))
    assert balances == {a.pk: M("30.00"), b.pk: M("-40.00"), c.pk: M("12.50")}
    entries = LedgerEntry.objects.exclude(kind=EntryKind.OPENING).order_by("account_id")
    assert [(e.account_id, e.kind, e.amount, e.balance_after, e.reference, e.memo) for e in entries] == [
        (a.pk, "renewal", M("-20.00"), M("30.00"), "INV-1", "Renewal: 2 order(s)"),
        (b.pk, "renewal", M("-50.00"), M("-40.00"), "INV-2", "Renewal: 1 order(s)"),
        (c.pk, "top_up", M("7.50"), M("12.50"), "", "wire"),
    ]
    # and one audit record each, as ledger_post writes them, with the request's address
    records = AuditEvent.objects.filter(action__in=["ledger.renewal", "ledger.top_up"]).order_by("target_id")
    assert [(r.action, r.target_id, r.target_ref, r.before, r.after, r.reason, r.address) for r in records] == [
        ("ledger.renewal", a.pk, a.customer.ref, "50.00", "30.00", "INV-1", CLIENT),
        ("ledger.renewal", b.pk, b.customer.ref, "10.00", "-40.00", "INV-2", CLIENT),
        ("ledger.top_up", c.pk, c.customer.ref, "5.00", "12.50", "wire", CLIENT),
    ]
    assert_invariants()


@pytest.mark.django_db
def test_a_debit_below_what_is_available_is_refused_as_ledger_post_refuses_it():
    # given: 5.00 available on one account of two
    rich, poor = opened("100.00"), opened("5.00")
    with pytest.raises(InsufficientFunds) as alone, transaction.atomic():
        ledger_post(actor=Actor.system("t"), account_id=poor.pk, amount=M("-5.01"), kind=EntryKind.RENEWAL)
    # when: a set-based debit takes more than that
    with pytest.raises(InsufficientFunds) as many, transaction.atomic():
        ledger_post_many(actor=Actor.system("t"), postings=[debit(rich, "-1.00"), debit(poor, "-5.01")])
    # then: the same refusal, and nothing was written for either account
    assert str(many.value) == str(alone.value)
    assert str(many.value).startswith(f"{poor.customer.ref}: a debit of")
    balances = dict(Account.objects.filter(pk__in=[rich.pk, poor.pk]).values_list("pk", "balance"))
    assert balances == {rich.pk: M("100.00"), poor.pk: M("5.00")}
    assert not LedgerEntry.objects.filter(kind=EntryKind.RENEWAL).exists()
    assert not AuditEvent.objects.filter(action="ledger.renewal").exists()


@pytest.mark.django_db
def test_a_hold_in_flight_is_not_available():
    account = opened("30.00")
    Account.objects.filter(pk=account.pk).update(held=M("10.00"))
    with pytest.raises(InsufficientFunds, match="10.00 held for a card payment"), transaction.atomic():
        ledger_post_many(actor=Actor.system("t"), postings=[debit(account, "-20.01")])
    ledger_post_many(actor=Actor.system("t"), postings=[debit(account, "-20.00")])
    assert Account.objects.get(pk=account.pk).balance == M("10.00")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"currency": "EUR"}, DomainError, "the account is in USD, not EUR"),
        ({"amount": M("-1.005")}, DomainError, "finer than USD's minor unit"),
        ({"amount": M("0")}, DomainError, "must not be zero"),
        ({"kind": EntryKind.REFUND, "reference": "re_1"}, DomainError, "post it alone"),
        ({"kind": "gift"}, DomainError, "unknown ledger entry kind"),
        ({"account_id": 0}, NotFound, "account 0 not found"),
    ],
)
def test_what_ledger_post_refuses_ledger_post_many_refuses(change, error, message):
    account = opened("10.00")
    posting = debit(account, "-1.00")
    with pytest.raises(error, match=message), transaction.atomic():
        ledger_post_many(actor=Actor.system("t"), postings=[dataclasses.replace(posting, **change)])
    assert Account.objects.get(pk=account.pk).balance == M("10.00")


@pytest.mark.django_db
def test_one_entry_per_account():
    account = opened("10.00")
    with pytest.raises(DomainError, match="one entry per account"):
        ledger_post_many(actor=Actor.system("t"), postings=[debit(account, "-1.00"), debit(account, "-2.00")])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overdrawn", "balance", "held", "credit_limit", "amount"),
    [
        (M("10"), M("-10"), M("0"), M("0"), M("6")),  # a credit lowers it to what is still below
        (M("10"), M("-10"), M("0"), M("0"), M("15")),  # back above
        (M("10"), M("3"), M("0"), M("0"), M("-1")),  # a stale one after a hold was released: gone
        (M("0"), M("5"), M("0"), M("0"), M("10")),
        (M("8"), M("-5"), M("3"), M("0"), M("4")),  # a hold counts
        (M("2"), M("-7"), M("0"), M("5"), M("1")),  # so does the credit limit
        (M("0"), M("-5"), M("0"), M("5"), M("2")),
    ],
)
def test_overdrawn_moves_by_the_rule_on_both_doors(overdrawn, balance, held, credit_limit, amount):
    # given: two accounts in the same state (written directly: the rule's inputs)
    twins = [opened("0.00", credit_limit=str(credit_limit)) for _ in range(2)]
    for account in twins:
        Account.objects.filter(pk=account.pk).update(balance=balance, held=held, overdrawn=overdrawn)
    kind = EntryKind.TOP_UP if amount > 0 else EntryKind.RENEWAL
    # when: the same entry through each door
    ledger_post(actor=Actor.system("t"), account_id=twins[0].pk, amount=amount, kind=kind)
    ledger_post_many(
        actor=Actor.system("t"),
        postings=[Posting(account_id=twins[1].pk, amount=amount, kind=kind, currency="USD")],
    )
    # then: both moved it as balances.rules.overdrawn_after says (its SQL form agrees)
    expected = overdrawn_after(
        overdrawn=overdrawn,
        balance=balance + amount,
        held=held,
        credit_limit=credit_limit,
        amount=amount,
        processor=False,
    )
    found = [Account.objects.get(pk=account.pk) for account in twins]
    assert [(a.balance, a.overdrawn) for a in found] == [(balance + amount, expected)] * 2


@pytest.mark.django_db
def test_a_fixed_number_of_statements_whatever_the_number_of_accounts():
    # One UPDATE (lock, move, read back), then the entries and their audit
    # records: two COPYs on PostgreSQL, two multi-row INSERTs on SQLite.
    counts = []
    for size in (3, 30):
        accounts = [opened("10.00") for _ in range(size)]
        with CaptureQueriesContext(connection) as statements:
            ledger_post_many(actor=Actor.system("t"), postings=[debit(a, "-1.00") for a in accounts])
        counts.append(len(statements))
    assert counts == [3, 3]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_set_based_debits_queue_on_the_locks_and_never_pass_the_limit(assert_invariants):
    # given: ten accounts with 150.00 available each
    accounts = [opened("100.00", credit_limit="50.00") for _ in range(10)]

    def post(order):
        return ledger_post_many(actor=Actor.system("t"), postings=[debit(a, "-100.00") for a in order])

    # when: two runs debit 100.00 from each, listing them in opposite orders
    results = run_concurrently([lambda: post(accounts), lambda: post(accounts[::-1])])
    # then: no deadlock; the first to lock wins, the second finds 50.00 left and is refused whole
    assert sorted(type(r).__name__ for r in results) == ["InsufficientFunds", "list"]
    assert set(Account.objects.filter(pk__in=[a.pk for a in accounts]).values_list("balance", flat=True)) == {M("0.00")}
    assert LedgerEntry.objects.filter(kind=EntryKind.RENEWAL).count() == 10
    assert_invariants()
