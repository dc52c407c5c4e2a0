"""The one way money moves: ``ledger_post`` under the account's row lock."""

import datetime
from decimal import Decimal

from django.db import transaction

from audit.services import audit_record, audited_update
from balances.models import PROCESSOR_KINDS, Account, EntryKind, LedgerEntry
from balances.rules import ZERO, available_funds, credit_limit_problem, overdrawn_after
from core.dates import business_today
from core.errors import DomainError, InsufficientFunds, NotFound
from core.locks import lock_account
from core.money import check_exact, format_amount, format_money, is_currency
from tenants.models import Customer
from tenants.scope import Actor, ActorKind

# What a customer may change of their own account.
CUSTOMER_SETTINGS = frozenset({"auto_renew"})


def account_open(*, customer: Customer, currency: str = "USD", credit_limit: Decimal = Decimal("0")) -> Account:
    if not is_currency(currency):
        raise DomainError(f"currency must be a three-letter ISO code such as USD, not {currency!r}")
    return Account.objects.create(customer=customer, currency=currency, credit_limit=credit_limit)


@transaction.atomic
def ledger_post(
    *,
    actor: Actor,
    account_id: int,
    amount: Decimal,
    kind: str,
    memo: str = "",
    reference: str = "",
    business_date: datetime.date | None = None,
) -> LedgerEntry:
    """Append an entry and move the cached balance with it, under the account's
    row lock, refusing a debit that would take the balance below -credit_limit.

    The card processor's movements (PROCESSOR_KINDS: a refund, a dispute,
    each with the processor's id as ``reference``) are recorded even below
    the limit (SPEC "Money": nothing the processor did is missing from the
    ledger); how far below is kept in ``overdrawn``, which any credit lowers.
    """
    amount = Decimal(amount)
    if amount == 0:
        raise DomainError("a ledger entry moves money: the amount must not be zero")
    if kind not in EntryKind.values:
        raise DomainError(f"unknown ledger entry kind {kind!r}")
    processor = kind in PROCESSOR_KINDS
    if processor and not reference:
        raise DomainError(f"a {kind} entry names the processor's object (its id) in its reference")
    account = lock_account(account_id)
    try:
        amount = check_exact(amount, account.currency)
    except ValueError as exc:
        raise DomainError(f"{account.customer.ref}: {exc}", code="invalid_amount") from exc
    new_balance = account.balance + amount
    if amount < 0 and not processor and available_funds(new_balance, account.held, account.credit_limit) < 0:
        cur = account.currency
        raise InsufficientFunds(
            f"{account.customer.ref}: a debit of {format_money(-amount, cur)} needs "
            f"{format_amount(-amount, cur)} available, but only {format_amount(account.available, cur)} is "
            f"(balance {format_amount(account.balance, cur)} + credit limit {format_amount(account.credit_limit, cur)}"
            + (f" - {format_amount(account.held, cur)} held for a card payment in progress" if account.held else "")
            + ")"
        )
    business_date = business_date or business_today()
    entry = LedgerEntry.objects.create(
        account=account,
        kind=kind,
        amount=amount,
        balance_after=new_balance,
        business_date=business_date,
        reference=reference,
        memo=memo,
        created_by=actor.user if actor.user and actor.user.pk else None,
        actor_label=actor.label,
    )
    before = account.balance
    account.overdrawn = overdrawn_after(
        overdrawn=account.overdrawn,
        balance=new_balance,
        held=account.held,
        credit_limit=account.credit_limit,
        amount=amount,
        processor=processor,
    )
    account.balance = new_balance
    account.save(update_fields=["balance", "overdrawn", "updated_at"])
    audit_record(
        actor=actor,
        action=f"ledger.{kind}",
        target=account.customer,
        before=format_amount(before, account.currency),
        after=format_amount(new_balance, account.currency),
        reason=memo,
        business_date=business_date,
    )
    return entry


@transaction.atomic
def account_update(*, actor: Actor, account_id: int, reason: str = "", **changes) -> list[str]:
    """Change an account's credit limit, master auto-renew switch or currency."""
    allowed = {"credit_limit", "auto_renew", "currency", "stripe_customer_id", "stripe_payment_method_id"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise DomainError(f"an account has no setting {', '.join(unknown)}")
    if actor.kind == ActorKind.CUSTOMER and set(changes) - CUSTOMER_SETTINGS:
        raise DomainError("you may change only the master auto-renew switch of your account", code="forbidden")
    if not Account.objects.visible_to(actor).filter(pk=account_id).exists():
        raise NotFound(f"account {account_id} not found")
    account = lock_account(account_id)
    if "currency" in changes and changes["currency"] != account.currency:
        if not is_currency(changes["currency"]):
            raise DomainError(f"currency must be a three-letter ISO code such as USD, not {changes['currency']!r}")
        if account.entries.exists():
            raise DomainError(f"{account.customer.ref}: an account with ledger entries keeps its currency")
    if "credit_limit" in changes:
        # What the processor took below the limit does not count against a
        # new limit: the rule applies to the balance without it.
        problem = credit_limit_problem(
            account.balance + account.overdrawn,
            Decimal(changes["credit_limit"]),
            changes.get("currency", account.currency),
        )
        if problem:
            raise DomainError(f"{account.customer.ref}: {problem}")
    changed = audited_update(actor=actor, instance=account, changes=changes, reason=reason)
    if "credit_limit" in changes and account.overdrawn:
        # A higher limit covers part of what is owed: the processor's
        # allowance shrinks to what is still below the new limit (after the
        # limit moved, so that the constraints hold at each step).
        limit = Decimal(changes["credit_limit"])
        needed = max(ZERO, -available_funds(account.balance, account.held, limit))
        Account.objects.filter(pk=account.pk).update(overdrawn=min(account.overdrawn, needed))
    return changed
