from decimal import Decimal

from core.money import format_amount, is_exact, places_rule


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
