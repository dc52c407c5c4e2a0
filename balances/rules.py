from decimal import Decimal

from core.money import format_amount


def credit_limit_problem(balance: Decimal, credit_limit: Decimal) -> str | None:
    """Why ``credit_limit`` cannot apply to an account holding ``balance``, or None."""
    if credit_limit < 0:
        return "the credit limit cannot be negative"
    if balance < -credit_limit:
        return (
            f"the balance is {format_amount(balance)}, so the credit limit cannot be lower than "
            f"{format_amount(-balance)}"
        )
    return None
