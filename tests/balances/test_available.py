"""Available funds (balance - held + credit limit) is one rule with a query
form built from it: the two agree on every kind of account."""

from decimal import Decimal

import pytest

from balances.models import Account, available_funds_expr
from balances.rules import available_funds
from tenants.models import Customer
from tests.factories import CustomerFactory

M = Decimal

CASES = [
    # (balance, held, credit_limit, available)
    (M("0.00"), M("0.00"), M("0.00"), M("0.00")),
    (M("25.00"), M("0.00"), M("0.00"), M("25.00")),
    (M("25.00"), M("10.00"), M("0.00"), M("15.00")),  # a card payment in flight holds part
    (M("-5.00"), M("0.00"), M("20.00"), M("15.00")),  # the credit limit counts
    (M("30.00"), M("10.00"), M("5.00"), M("25.00")),
    (M("-20.00"), M("0.00"), M("10.00"), M("-10.00")),  # the processor took it below the limit
    (M("0.01"), M("0.01"), M("0.00"), M("0.00")),
]


@pytest.mark.parametrize(("balance", "held", "credit_limit", "available"), CASES)
def test_available_funds_is_the_balance_plus_the_limit_less_holds(balance, held, credit_limit, available):
    assert available_funds(balance, held, credit_limit) == available


@pytest.mark.django_db
def test_the_query_form_agrees_with_the_rule():
    # Given accounts in every case (their columns written directly: the
    # rule's inputs, not a history of entries)
    ids = []
    for balance, held, credit_limit, _available in CASES:
        customer = CustomerFactory(account__credit_limit=credit_limit)
        Account.objects.filter(pk=customer.pk).update(balance=balance, held=held, overdrawn=M("100.00"))
        ids.append(customer.pk)
    # When the query form computes it, from the account and from its customer
    found = dict(Account.objects.filter(pk__in=ids).annotate(a=available_funds_expr()).values_list("pk", "a"))
    via = dict(Customer.objects.filter(pk__in=ids).annotate(a=available_funds_expr("account__")).values_list("pk", "a"))
    # Then each agrees with the rule and with Account.available
    for pk, (balance, held, credit_limit, available) in zip(ids, CASES, strict=True):
        account = Account.objects.get(pk=pk)
        assert found[pk] == via[pk] == account.available == available_funds(balance, held, credit_limit) == available
    # and it filters: who can pay 15.00
    payers = Account.objects.filter(pk__in=ids).alias(a=available_funds_expr()).filter(a__gte=M("15.00"))
    assert sorted(payers.values_list("pk", flat=True)) == [ids[1], ids[2], ids[3], ids[4]]
