"""core.money: each currency by its ISO 4217 minor unit. Pure functions, no database."""

from decimal import Decimal

import pytest

from core.money import (
    exponent,
    format_amount,
    format_money,
    is_currency,
    minor_unit,
    parse_amount,
    quantize,
    to_minor_units,
)

M = Decimal

# (currency, places, ten units as written, its minor units, an amount finer than the unit)
CURRENCIES = [
    ("JPY", 0, "10", 10, "1000.5"),
    ("USD", 2, "10.00", 1000, "10.005"),
    ("KWD", 3, "10.000", 10000, "10.0005"),
]


@pytest.mark.parametrize(
    ("currency", "places"), [("JPY", 0), ("KRW", 0), ("USD", 2), ("EUR", 2), ("KWD", 3), ("BHD", 3)]
)
def test_exponent_is_iso_4217s(currency, places):
    assert exponent(currency) == places
    assert minor_unit(currency) == M(1).scaleb(-places)


def test_exponent_follows_iso_not_cldr():
    # CLDR (babel) shows HUF without decimals; ISO 4217 and the processors count fillér.
    assert exponent("HUF") == 2


@pytest.mark.parametrize("code", ["usd", "XYZ", "US", "", None, 12, "CLF"])
def test_not_a_currency_the_portal_keeps(code):
    # CLF has four places: finer than the three the columns hold.
    assert not is_currency(code)
    if isinstance(code, str) and code:
        with pytest.raises(ValueError, match="ISO 4217|decimal places"):
            exponent(code)


@pytest.mark.parametrize(("currency", "places", "ten", "minor", "finer"), CURRENCIES)
def test_format_amount_writes_exactly_the_currencys_places(currency, places, ten, minor, finer):
    assert format_amount(M("10"), currency) == ten
    assert format_amount(M("10.000"), currency) == ten
    assert format_amount(M("-0"), currency) == format_amount(M("0"), currency)
    assert not format_amount(M("-0.0001"), currency).startswith("-")
    assert format_money(M("10"), currency) == f"{ten} {currency}"


@pytest.mark.parametrize(
    ("currency", "amount", "rounded"),
    [
        ("JPY", "1000.5", "1001"),
        ("JPY", "1000.49", "1000"),
        ("USD", "10.005", "10.01"),
        ("USD", "10.0049", "10.00"),
        ("KWD", "1.0005", "1.001"),
        ("KWD", "1.00049", "1.000"),
        ("KWD", "-1.0005", "-1.001"),
    ],
)
def test_quantize_rounds_half_up_to_the_minor_unit(currency, amount, rounded):
    assert str(quantize(M(amount), currency)) == rounded


@pytest.mark.parametrize(("currency", "places", "ten", "minor", "finer"), CURRENCIES)
def test_to_minor_units(currency, places, ten, minor, finer):
    assert to_minor_units(M(ten), currency) == minor
    assert to_minor_units(M("10"), currency) == minor
    assert isinstance(to_minor_units(M(ten), currency), int)
    with pytest.raises(ValueError, match=f"finer than {currency}'s minor unit"):
        to_minor_units(M(finer), currency)


def test_to_minor_units_as_spec_says():
    assert to_minor_units(M("1000"), "JPY") == 1000
    assert to_minor_units(M("10.00"), "USD") == 1000
    assert to_minor_units(M("1.500"), "KWD") == 1500


@pytest.mark.parametrize(("currency", "places", "ten", "minor", "finer"), CURRENCIES)
def test_parse_amount_round_trips_format_amount(currency, places, ten, minor, finer):
    for text in (ten, "0", "-3", format_amount(M("1234.5"), currency)):
        assert format_amount(parse_amount(text, currency), currency) == format_amount(M(text), currency)
    # Trailing zeros are the same amount: "1000.00" JPY is 1000 yen.
    assert parse_amount("10.000", currency) == M(10)


@pytest.mark.parametrize(("currency", "places", "ten", "minor", "finer"), CURRENCIES)
def test_parse_amount_refuses_finer_than_the_unit_with_a_sentence(currency, places, ten, minor, finer):
    with pytest.raises(ValueError, match="is finer than") as caught:
        parse_amount(finer, currency)
    assert str(caught.value).startswith(f'"{finer}" is finer than {currency}\'s minor unit (')


def test_parse_amount_says_what_jpy_allows():
    with pytest.raises(ValueError, match=r"JPY has no minor unit: whole amounts only"):
        parse_amount("1000.50", "JPY")
    with pytest.raises(ValueError, match=r"USD has 2 decimal places"):
        parse_amount("1.001", "USD")


@pytest.mark.parametrize("text", ["ten", "1e3", "1,000", "", " ", "0x10", "1.2.3", "- 1"])
def test_parse_amount_refuses_what_is_not_an_amount(text):
    with pytest.raises(ValueError, match="not an amount"):
        parse_amount(text, "USD")


def test_parse_amount_refuses_a_number_and_too_large():
    with pytest.raises(ValueError, match="must be a string"):
        parse_amount(10.5, "USD")
    with pytest.raises(ValueError, match="too large"):
        parse_amount("1" + "0" * 17, "JPY")
