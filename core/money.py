"""Money: Decimal amounts with two places, one currency per account.

No float touches money: amounts enter as strings (files, forms) or Decimals and
are rounded half up only when charged or shown.
"""

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import models

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
_AMOUNT_RE = re.compile(r"^-?\d+(\.\d{1,2})?$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


class MoneyField(models.DecimalField):
    """An amount column: 20 digits, 3 places.

    Three places hold every currency's minor unit (KWD and BHD have three, like
    Saleor's columns); each amount is quantized to its own currency's unit
    before it is stored, so a USD column value always ends in a 0.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 20)
        kwargs.setdefault("decimal_places", 3)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.DecimalField", args, kwargs


def round_cents(amount: Decimal) -> Decimal:
    """Round half up to cents (SPEC: each priced line rounded half up)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_amount(text: str) -> Decimal:
    """Parse an amount written as a string such as "10.00" or "-5".

    Raises ValueError with a sentence that says what is wrong.
    """
    if not isinstance(text, str):
        raise ValueError(f'must be a string such as "10.00", not {type(text).__name__}')
    if not _AMOUNT_RE.match(text.strip()):
        raise ValueError(f'not an amount with at most 2 decimal places ("{text}")')
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:  # pragma: no cover - the regex already refused it
        raise ValueError(f'not an amount ("{text}")') from exc
    if abs(value) >= Decimal("1e18"):
        raise ValueError(f'amount too large ("{text}")')
    return value.quantize(CENT)


def format_amount(amount: Decimal) -> str:
    """The canonical text of an amount: two places, no exponent ("10.00")."""
    return f"{round_cents(Decimal(amount)):.2f}"


def is_currency(code: object) -> bool:
    return isinstance(code, str) and bool(_CURRENCY_RE.match(code))
