from decimal import Decimal

from core.money import format_amount, is_exact, places_rule

ZERO = Decimal(0)


def available_funds(balance: Decimal, held: Decimal, credit_limit: Decimal) -> Decimal:
    """What an account may spend (a renewal, an admin's debit, a refund at the
    processor): its balance plus its credit limit, less what card payments and
    refunds in progress hold (SPEC "Money"). Negative when the processor took
    the account below its limit.

    Plain arithmetic on purpose: given an account's columns as query
    expressions it builds the same rule's query form
    (``balances.models.available_funds_expr``), so the two cannot drift."""
    return balance - held + credit_limit


def credit_limit_problem(balance: Decimal, credit_limit: Decimal, currency: str) -> str | None:
    """Why ``credit_limit`` cannot apply to an account holding ``balance`` in
    ``currency``, or None."""
    if credit_limit < 0:
        return "the credit limit cannot be negative"
    if not is_exact(credit_limit, currency):
        return f"the credit limit {credit_limit} is finer than {currency}'s minor unit ({places_rule(currency)})"
    if balance < -credit_limit:
        return (
            f"the balance is {format_amount(balance, currency)}, so the credit limit cannot be lower than "
            f"{format_amount(-balance, currency)}"
        )
    return None


def owed(balance: Decimal, credit_limit: Decimal) -> Decimal:
    """What an account must pay to be back within its credit limit: more
    than zero only after the card processor took money back (a refund, a
    dispute) that was already spent (SPEC "Money": it then owes and renews
    nothing until it is back)."""
    return max(Decimal(0), -(balance + credit_limit))


def entry_refused(*, amount: Decimal, available_after: Decimal, processor: bool) -> bool:
    """Whether the ledger refuses an entry of ``amount`` (signed) that would
    leave ``available_after`` available: a debit that takes the account below
    what its credit limit and its holds allow, unless the card processor made
    it (SPEC "Money": what the processor did is always recorded). A credit is
    never refused, even one that leaves the account still below."""
    return amount < 0 and not processor and available_after < 0


def overdrawn_after(
    *, overdrawn: Decimal, balance: Decimal, held: Decimal, credit_limit: Decimal, amount: Decimal, processor: bool
) -> Decimal:
    """An account's ``overdrawn`` after an entry of ``amount`` (signed) moved
    its ``balance`` to ``balance``: how far the processor's movements took it
    below what the credit limit and the holds allow. A processor's debit
    raises it as far as it needs (never further, so by at most its amount);
    any other entry lowers it to what is still needed (a credit brings the
    account back; another debit is allowed only within the limit, so it is 0
    after one)."""
    needed = max(ZERO, -available_funds(balance, held, credit_limit))
    if processor and amount < 0:
        return max(overdrawn, needed)
    return min(overdrawn, needed)


def overdrawn_after_sql(available_after: str) -> str:
    """``overdrawn_after`` for an entry other than the processor's, as SQL
    over the account row that an UPDATE moves, given the SQL of its
    ``available_funds`` after the entry: the set-based ledger_post_many's
    form of the same rule (the overdrawn it had, lowered to what the new
    balance still needs). Plain SQL that PostgreSQL and SQLite both run.
    tests/balances/test_post_many.py checks that the two agree."""
    needed = f"(-{available_after})"
    return f"CASE WHEN {needed} <= 0 THEN 0 WHEN {needed} < overdrawn THEN {needed} ELSE overdrawn END"
