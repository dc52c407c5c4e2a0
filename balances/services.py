"""The one way money moves: ``ledger_post`` (one entry) and
``ledger_post_many`` (set-based, for the nightly run and the importer), each
under the accounts' row locks. No other module writes an account's balance
or the ledger (tests/balances/test_one_door.py)."""

import datetime
import json
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F

from audit.models import AuditEvent
from audit.services import audit_record, audited_update
from balances.locks import lock_account
from balances.models import PROCESSOR_KINDS, Account, EntryKind, LedgerEntry
from balances.rules import (
    ZERO,
    available_funds,
    credit_limit_problem,
    entry_refused,
    overdrawn_after,
    overdrawn_after_sql,
)
from core.dates import business_today
from core.errors import DomainError, InsufficientFunds, NotFound
from core.money import check_exact, format_amount, format_money, is_currency, minor_unit, places_rule
from core.request_context import current_address
from core.sql import db_now, insert_rows
from tenants.models import Customer, Reseller
from tenants.scope import Actor, ActorKind
from tenants.services import customer_create

# What a customer may change of their own account: the master switch and the
# standing renewal day (SPEC "Standing renewal day").
CUSTOMER_SETTINGS = frozenset({"auto_renew", "renewal_day"})


def account_open(*, customer: Customer, currency: str = "USD", credit_limit: Decimal = Decimal("0")) -> Account:
    if not is_currency(currency):
        raise DomainError(f"currency must be a three-letter ISO code such as USD, not {currency!r}")
    return Account.objects.create(customer=customer, currency=currency, credit_limit=credit_limit)


@transaction.atomic
def customer_open(
    *,
    actor: Actor,
    ref: str,
    name: str,
    reseller: Reseller,
    email: str = "",
    allow_auto_renew: bool = True,
    currency: str = "USD",
    credit_limit: Decimal = Decimal("0"),
) -> Customer:
    """A new customer with its account, together: tenants keeps the customer
    (tenants.services.customer_create), balances its money."""
    customer = customer_create(
        actor=actor, ref=ref, name=name, reseller=reseller, email=email, allow_auto_renew=allow_auto_renew
    )
    account_open(customer=customer, currency=currency, credit_limit=credit_limit)
    return customer


def account_open_many(*, accounts: list[Account]) -> list[Account]:
    """Open many accounts (unsaved instances of saved customers) at once.
    Each opens empty: an opening balance is a ledger entry (ledger_post_many),
    so the cached balance equals the ledger from the start."""
    for account in accounts:
        if not is_currency(account.currency):
            raise DomainError(f"currency must be a three-letter ISO code such as USD, not {account.currency!r}")
        if account.balance or account.held or account.overdrawn:
            raise DomainError("an account opens empty: its opening balance is a ledger entry")
    return Account.objects.bulk_create(accounts, batch_size=900)


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
    available_after = available_funds(new_balance, account.held, account.credit_limit)
    if entry_refused(amount=amount, available_after=available_after, processor=processor):
        raise _insufficient(
            account.customer.ref, amount, account.balance, account.held, account.credit_limit, account.currency
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
def hold_place(*, account_id: int, amount: Decimal) -> None:
    """Hold ``amount`` of the account's funds for a payment in flight (a card
    renewal's balance part, a refund sent to the processor): available funds
    count it as spent until ``hold_release``. The caller holds the account's
    row lock; a single UPDATE, so a hold is never lost to a concurrent one."""
    Account.objects.filter(pk=account_id).update(held=F("held") + amount)


def hold_release(*, account_id: int, amount: Decimal) -> None:
    """Give back a hold placed by ``hold_place`` (the payment settled either way)."""
    Account.objects.filter(pk=account_id).update(held=F("held") - amount)


@transaction.atomic
def account_update(*, actor: Actor, account_id: int, reason: str = "", **changes) -> list[str]:
    """Change an account's credit limit, master auto-renew switch, standing
    renewal day (1-31, or None for none) or currency; each change audited,
    before and after."""
    allowed = {
        "credit_limit",
        "auto_renew",
        "renewal_day",
        "currency",
        "stripe_customer_id",
        "stripe_payment_method_id",
    }
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise DomainError(f"an account has no setting {', '.join(unknown)}")
    if actor.kind == ActorKind.CUSTOMER and set(changes) - CUSTOMER_SETTINGS:
        raise DomainError(
            "you may change only the master auto-renew switch and the renewal day of your account", code="forbidden"
        )
    day = changes.get("renewal_day")
    if day is not None and (not isinstance(day, int) or isinstance(day, bool) or not 1 <= day <= 31):
        raise DomainError(
            f"the renewal day must be a day of the month (1-31), or none, not {day!r}", code="invalid_renewal_day"
        )
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


def _insufficient(ref: str, amount, balance, held, credit_limit, cur: str) -> InsufficientFunds:
    return InsufficientFunds(
        f"{ref}: a debit of {format_money(-amount, cur)} needs "
        f"{format_amount(-amount, cur)} available, but only "
        f"{format_amount(available_funds(balance, held, credit_limit), cur)} is "
        f"(balance {format_amount(balance, cur)} + credit limit {format_amount(credit_limit, cur)}"
        + (f" - {format_amount(held, cur)} held for a card payment in progress" if held else "")
        + ")"
    )


@dataclass(slots=True)
class Posting:
    """One entry for ``ledger_post_many``: ``amount`` signed (credits
    positive), in ``currency``, which must be the account's."""

    account_id: int
    amount: Decimal
    kind: str
    currency: str
    memo: str = ""
    reference: str = ""
    # The audit record's reason; the memo when None.
    reason: str | None = None


@dataclass(frozen=True)
class Posted:
    account_id: int
    balance_before: Decimal
    balance_after: Decimal


# Accounts per UPDATE: a sweep batch (renewals.sweep.run.BATCH_SIZE, 1000)
# takes one; 2 bound values each, far below SQLite's limit.
POST_CHUNK = 1000


def ledger_post_many(
    *, actor: Actor, postings: list[Posting], business_date: datetime.date | None = None, locked: bool = False
) -> list[Posted]:
    """``ledger_post`` for many accounts at once, in a fixed number of
    statements whatever their number: per chunk of accounts one UPDATE that
    locks their rows in id order (as ``select_for_update().order_by("pk")``
    would), moves each balance and its ``overdrawn`` (balances.rules), and
    returns what it did; then the entries and their audit records (one
    ``ledger.<kind>`` per entry, with the request's address, as ledger_post)
    by COPY on PostgreSQL, multi-row INSERTs on SQLite.

    The same rules as ledger_post: a non-zero amount exact in the account's
    currency, a known kind, and no debit below what the credit limit and the
    holds allow (InsufficientFunds; the database's constraints are the last
    line). One entry per account; not the processor's kinds, which arrive
    one at a time (ledger_post). Checked after the UPDATE where they need the
    account: an error then leaves the caller's transaction to roll back (no
    savepoint, whose two statements a sweep batch would pay for).

    ``locked``: the caller holds the accounts' row locks already (the sweep
    and every renewal lock them first): the UPDATE does not take them again."""
    if not postings:
        return []
    unknown = {p.kind for p in postings} - set(EntryKind.values)
    if unknown:
        raise DomainError(f"unknown ledger entry kind {sorted(unknown)[0]!r}")
    processor = {p.kind for p in postings} & set(PROCESSOR_KINDS)
    if processor:
        raise DomainError(f"a {sorted(processor)[0]} entry is the processor's: post it alone (ledger_post)")
    if len({p.account_id for p in postings}) < len(postings):
        raise DomainError("one entry per account in a set-based posting")
    units = {currency: minor_unit(currency) for currency in {p.currency for p in postings}}
    for p in postings:
        if not p.amount:
            raise DomainError("a ledger entry moves money: the amount must not be zero")
        if p.amount != p.amount.quantize(units[p.currency]):
            raise DomainError(
                f"account {p.account_id}: {p.amount} is finer than {p.currency}'s minor unit "
                f"({places_rule(p.currency)})",
                code="invalid_amount",
            )
    business_date = business_date or business_today()
    with transaction.atomic(savepoint=False):
        now = db_now()
        moved: dict[int, tuple] = {}
        for start in range(0, len(postings), POST_CHUNK):
            moved.update(_move_balances(postings[start : start + POST_CHUNK], now, locked=locked))
        if len(moved) < len(postings):
            raise _refusal([p for p in postings if p.account_id not in moved])
        posted = []
        for p in postings:
            balance, currency, ref = moved[p.account_id]
            if currency != p.currency:
                raise DomainError(f"{ref}: the account is in {currency}, not {p.currency}", code="invalid_amount")
            balance = _decimal(balance)
            posted.append((p, p.amount, balance - p.amount, balance, currency, ref))
        user_id = actor.user.pk if actor.user and actor.user.pk else None
        insert_rows(
            LedgerEntry,
            ("account_id", "kind", "amount", "balance_after", "business_date", "created_at", "reference", "memo",
             "created_by_id", "actor_label"),
            [
                (p.account_id, p.kind, amount, after, business_date, now, p.reference, p.memo, user_id, actor.label)
                for p, amount, _before, after, _currency, _ref in posted
            ],
        )  # fmt: skip
        address = current_address()
        shown: dict[tuple, str] = {}  # balances repeat across accounts: each formatted once

        def amount_json(amount: Decimal, currency: str) -> str:
            text = shown.get((amount, currency))
            if text is None:
                text = shown[(amount, currency)] = json.dumps(format_amount(amount, currency))
            return text

        insert_rows(
            AuditEvent,
            ("occurred_at", "business_date", "actor_id", "actor_label", "action", "target_type", "target_id",
             "target_ref", "before", "after", "reason", "address"),
            [
                (now, business_date, user_id, actor.label, f"ledger.{p.kind}", "tenants.customer", p.account_id,
                 ref, amount_json(before, currency), amount_json(after, currency),
                 p.memo if p.reason is None else p.reason, address)
                for p, _amount, before, after, currency, ref in posted
            ],
        )  # fmt: skip
    return [Posted(p.account_id, before, after) for p, _amount, before, after, _currency, _ref in posted]


class _Sql(str):
    """SQL text that adds and subtracts, so that a rule written as plain
    arithmetic (balances.rules.available_funds) builds its own SQL form."""

    def __add__(self, other):
        return _Sql(f"({self} + {other})")

    def __sub__(self, other):
        return _Sql(f"({self} - {other})")


# The account's funds after the UPDATE moves it by v.amount.
_AVAILABLE_AFTER = available_funds(
    _Sql("(balances_account.balance + v.amount)"), _Sql("balances_account.held"), _Sql("balances_account.credit_limit")
)


def _move_balances(postings: list[Posting], now, *, locked: bool = False) -> dict[int, tuple]:
    """One UPDATE for a chunk: each account's balance moved by its amount and
    its overdrawn by the rule, under its row lock, unless the rule refuses
    the entry (entry_refused: not one of the processor's, so any debit that
    leaves less than nothing available). By account, what the row holds
    after it (balance, currency) and its customer's ref; a refused entry's
    account is missing."""
    rows = sorted((p.account_id, p.amount) for p in postings)
    # SQLite receives a Decimal as text, which compares above any number.
    row = "(%s, %s)" if connection.vendor == "postgresql" else "(%s, CAST(%s AS NUMERIC))"
    values = ", ".join([row] * len(rows))
    lock = join = where_lock = ""
    if connection.vendor == "postgresql" and not locked:
        # The rows locked in id order first (SQLite's writer lock covers the
        # whole database): two callers with overlapping accounts queue, never
        # deadlock, and a caller that holds them already just goes on.
        lock = (
            ", locked AS MATERIALIZED (SELECT customer_id FROM balances_account"
            " WHERE customer_id IN (SELECT id FROM v) ORDER BY customer_id FOR UPDATE)"
        )
        join = ", locked"
        where_lock = " AND locked.customer_id = v.id"
    # The ids' range too: with it the planner reads a batch's consecutive
    # accounts by their index rather than every account into a hash.
    sql = (
        f"WITH v(id, amount) AS (VALUES {values}){lock} "
        "UPDATE balances_account SET balance = balances_account.balance + v.amount, "
        f"overdrawn = {overdrawn_after_sql(_AVAILABLE_AFTER)}, updated_at = %s "
        f"FROM v{join} WHERE balances_account.customer_id = v.id{where_lock} "
        "AND balances_account.customer_id BETWEEN %s AND %s "
        f"AND (v.amount >= 0 OR {_AVAILABLE_AFTER} >= 0) "
        "RETURNING balances_account.customer_id, balances_account.balance, balances_account.currency, "
        "(SELECT ref FROM tenants_customer WHERE tenants_customer.id = balances_account.customer_id)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row] + [now, rows[0][0], rows[-1][0]])
        return {row[0]: row[1:] for row in cursor.fetchall()}


def _refusal(postings: list[Posting]) -> DomainError:
    """Why the UPDATE left these postings' accounts alone (the error path:
    the caller's transaction rolls back)."""
    accounts = Account.objects.select_related("customer").in_bulk([p.account_id for p in postings])
    for p in postings:
        account = accounts.get(p.account_id)
        if account is None:
            return NotFound(f"account {p.account_id} not found")
        if account.currency != p.currency:
            return DomainError(
                f"{account.customer.ref}: the account is in {account.currency}, not {p.currency}",
                code="invalid_amount",
            )
    p = postings[0]
    account = accounts[p.account_id]
    return _insufficient(
        account.customer.ref, p.amount, account.balance, account.held, account.credit_limit, account.currency
    )


def _decimal(value) -> Decimal:
    # SQLite hands back a raw UPDATE's amounts as numbers (floats for
    # fractions): through their text, at the columns' three places.
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value)).quantize(Decimal("0.001"))
