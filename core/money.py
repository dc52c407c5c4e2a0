"""Money: Decimal amounts, one currency per account, each kept to its
currency's minor unit (SPEC "Money"): none for JPY or KRW, two for USD or
EUR, three for KWD or BHD.

The exponents come from py-moneyed's ISO 4217 table (``Currency.sub_unit``),
not from a list kept here, and not from babel's CLDR data: CLDR gives the
places a currency is usually *shown* with, which differ from ISO 4217 for
some (HUF, ISK's history, TWD...), while a processor and an invoice count in
ISO's minor units.

No float touches money: amounts enter as strings (files, forms) or Decimals.
An amount finer than its currency's unit is refused where it enters
(``parse_amount``, ``check_exact``); pro rata rounds half up to the unit
(``quantize``); a processor gets whole minor units (``to_minor_units``).
"""

import functools
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import moneyed

ZERO = Decimal("0")
# The places every money column holds: enough for the finest currency the
# portal accepts (KWD, BHD: three). Currencies finer than this (CLF, UYW:
# four) are refused as an account's or a plan's currency.
STORED_PLACES = 3
# 20 digits in a column, 3 of them places.
_LIMIT = Decimal("1e17")
_AMOUNT_RE = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")  # ASCII digits only: \d takes "١٠"
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


@functools.cache
def exponent(currency: str) -> int:
    """The number of decimal places of ``currency``'s minor unit (ISO 4217):
    0 for JPY, 2 for USD, 3 for KWD. ValueError for a code ISO 4217 (as
    py-moneyed knows it) does not have, or one finer than the portal stores."""
    try:
        sub_unit = moneyed.get_currency(code=currency).sub_unit
    except (moneyed.CurrencyDoesNotExist, TypeError) as exc:
        raise ValueError(f"{currency!r} is not an ISO 4217 currency code") from exc
    places = len(str(sub_unit)) - 1  # sub_unit is 1, 100, 1000 or 10000
    if places > STORED_PLACES:
        raise ValueError(f"{currency} has {places} decimal places; the portal keeps amounts to {STORED_PLACES}")
    return places


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency``: 1 JPY, 0.01 USD, 0.001 KWD."""
    return Decimal(1).scaleb(-exponent(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half up to ``currency``'s minor unit (SPEC: pro rata
    rounds half up to the minor unit)."""
    return Decimal(amount).quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def is_exact(amount: Decimal, currency: str) -> bool:
    """Whether ``amount`` is a whole number of ``currency``'s minor units."""
    amount = Decimal(amount)
    return amount == amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def places_rule(currency: str) -> str:
    """What ``currency`` allows, as the end of a sentence."""
    places = exponent(currency)
    if places == 0:
        return f"{currency} has no minor unit: whole amounts only"
    return f"{currency} has {places} decimal places"


def check_exact(amount: Decimal, currency: str) -> Decimal:
    """``amount`` quantized to ``currency``'s places; ValueError with a
    sentence when it is finer than the minor unit ("1000.50" JPY)."""
    amount = Decimal(amount)
    if not is_exact(amount, currency):
        raise ValueError(f"{amount} is finer than {currency}'s minor unit ({places_rule(currency)})")
    return quantize(amount, currency)


def to_minor_units(amount: Decimal, currency: str) -> int:
    """``amount`` in ``currency``'s minor units, as a card processor counts
    them (SPEC: 1000 JPY is 1000, 10.00 USD is 1000, 1.500 KWD is 1500).
    ValueError for an amount finer than the unit: nothing is rounded on the
    way to a charge."""
    exact = check_exact(amount, currency)
    return int(exact.scaleb(exponent(currency)))


def parse_decimal(text: str) -> Decimal:
    """An amount written as a string ("10.00", "-5"), not yet checked against
    a currency (for a file whose currency is itself wrong): ValueError with a
    sentence when it is not an amount or too large for the columns."""
    if not isinstance(text, str):
        raise ValueError(f'must be a string such as "10.00", not {type(text).__name__}')
    value_text = text.strip()
    shown = text[:40]  # a hostile megabyte is not repeated in the error
    if not text.isascii():  # Decimal() reads "٣" as 3
        raise ValueError(f'not an amount ("{shown}"): write it with the digits 0-9')
    if not _AMOUNT_RE.match(value_text):
        raise ValueError(f'not an amount ("{shown}")')
    try:
        value = Decimal(value_text)
    except InvalidOperation as exc:  # pragma: no cover - the regex already refused it
        raise ValueError(f'not an amount ("{shown}")') from exc
    if abs(value) >= _LIMIT:
        raise ValueError(f'amount too large ("{shown}")')
    return value


def parse_amount(text: str, currency: str) -> Decimal:
    """Parse an amount of ``currency`` written as a string such as "10.00",
    "-5" or "1000". Trailing zeros are allowed ("1000.00" JPY is 1000); a
    value finer than the minor unit is not ("1000.50" JPY).

    Raises ValueError with a sentence that says what is wrong.
    """
    if not isinstance(text, str):
        example = format_amount(Decimal(10), currency)
        raise ValueError(f'must be a string such as "{example}", not {type(text).__name__}')
    value = parse_decimal(text)
    if not is_exact(value, currency):
        raise ValueError(f'"{text}" is finer than {currency}\'s minor unit ({places_rule(currency)})')
    return quantize(value, currency)


def format_amount(amount: Decimal, currency: str) -> str:
    """The canonical text of an amount: exactly ``currency``'s places, no
    exponent, no grouping ("1000" JPY, "10.00" USD, "1.500" KWD). Rounds half
    up to the unit (an amount is rounded only when it is shown or charged)."""
    value = quantize(amount, currency)
    if value == 0:
        value = abs(value)  # never "-0.00"
    return f"{value:f}"


def format_money(amount: Decimal, currency: str) -> str:
    """An amount with its code, as sentences and notices say it: "1000 JPY"."""
    return f"{format_amount(amount, currency)} {currency}"


def is_currency(code: object) -> bool:
    """An ISO 4217 code the portal can keep amounts of."""
    if not (isinstance(code, str) and _CURRENCY_RE.match(code)):
        return False
    try:
        exponent(code)
    except ValueError:
        return False
    return True


def from_minor_units(units: int, currency: str) -> Decimal:
    """An amount a card processor counts in ``currency``'s minor units, as a
    Decimal of the currency (1000 JPY is 1000, 1000 USD cents is 10.00)."""
    return quantize(Decimal(int(units)).scaleb(-exponent(currency)), currency)
