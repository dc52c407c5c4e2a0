"""Reading typed values out of a document's JSON objects, each error noted
with its path (``customers[0].name: must not contain a null character``)."""

import datetime
from decimal import Decimal
from typing import Any

from core.money import format_amount, is_currency, parse_amount, parse_decimal
from interchange.format import MAX_COLUMN_INT, MAX_REF, MAX_TEXT


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()


class Reader:
    """Reads typed values out of one JSON object, noting each error by path."""

    def __init__(self, errors: list[str], obj: dict, path: str):
        self.errors = errors
        self.obj = obj
        self.path = path
        self.ok = True

    def error(self, key: str | None, message: str) -> None:
        self.ok = False
        where = f"{self.path}.{key}" if key else self.path
        self.errors.append(f"{where}: {message}")

    def raw(self, key: str, required: bool, default: Any) -> Any:
        if key in self.obj:
            return self.obj[key]
        if required:
            self.error(key, "required")
        return MISSING if required else default

    def text(
        self,
        key: str,
        *,
        required: bool = False,
        default: str = "",
        nonempty: bool = False,
        max_length: int = MAX_TEXT,
    ) -> Any:
        value = self.raw(key, required, default)
        if value is MISSING:
            return value
        if value is None and not required and not nonempty:
            return default
        if not isinstance(value, str):
            self.error(key, f"must be a string, not {type_name(value)}")
            return MISSING
        if not self._fits(key, value, max_length):
            return MISSING
        if nonempty and not value.strip():
            self.error(key, "must not be empty")
            return MISSING
        return value.strip()

    def ref(self, key: str, *, required: bool = True, nullable: bool = False) -> Any:
        value = self.raw(key, required, None)
        if value is None and (nullable or not required):
            return None
        if value is MISSING:
            return value
        if not isinstance(value, str) or not value.strip():
            self.error(key, f"must be a non-empty string ref, not {as_json(value)}")
            return MISSING
        if not self._fits(key, value, MAX_REF):
            return MISSING
        return value.strip()

    def _fits(self, key: str, value: str, max_length: int) -> bool:
        """A string the columns can hold: PostgreSQL refuses a NUL character,
        and a longer value than the column's is refused there too."""
        if "\x00" in value:
            self.error(key, "must not contain a null character")
            return False
        if len(value.strip()) > max_length:
            self.error(key, f"must be at most {max_length} characters, not {len(value.strip())}")
            return False
        return True

    def flag(self, key: str, default: bool) -> Any:
        value = self.raw(key, False, default)
        if not isinstance(value, bool):
            self.error(key, f"must be true or false, not {as_json(value)}")
            return MISSING
        return value

    def integer(
        self,
        key: str,
        *,
        required: bool = False,
        default: Any = None,
        low: int | None = None,
        high: int | None = None,
        nullable: bool = False,
    ) -> Any:
        value = self.raw(key, required, default)
        if value is MISSING or (value is None and (nullable or not required)):
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(key, f"must be a whole number, not {as_json(value)}")
            return MISSING
        if abs(value) > MAX_COLUMN_INT:
            self.error(key, f"must be at most {MAX_COLUMN_INT}, not a number of {len(str(abs(value)))} digits")
            return MISSING
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            self.error(key, f"must be {bounds}, not {value}")
            return MISSING
        return value

    def amount(
        self, key: str, *, currency: Any, default: str | None, non_negative: bool = False, nullable: bool = False
    ) -> Any:
        """An amount of ``currency``, refused when finer than its minor unit
        (SPEC "Money"); only checked as an amount when the currency is wrong
        itself (its own error is listed). ``nullable``: null (or no key, with
        a None default) is None."""
        value = self.raw(key, False, default)
        if value is None and nullable:
            return None
        try:
            amount = parse_money(value, currency)
        except ValueError as exc:
            self.error(key, str(exc))
            return MISSING
        if non_negative and amount < 0:
            self.error(key, f"must not be negative ({value})")
            return MISSING
        return amount

    def date(self, key: str, *, required: bool = True) -> Any:
        value = self.raw(key, required, None)
        if value is MISSING or value is None:
            return value
        if not isinstance(value, str):
            self.error(key, f"not a date: must be a YYYY-MM-DD string, not {as_json(value)}")
            return MISSING
        try:
            if len(value) != 10:
                raise ValueError
            return datetime.date.fromisoformat(value)
        except ValueError:
            self.error(key, f'not a date ("{value}"; expected YYYY-MM-DD)')
            return MISSING

    def choice(self, key: str, choices: list[str], default: str) -> Any:
        value = self.raw(key, False, default)
        if value not in choices:
            self.error(key, f"must be one of {', '.join(choices)}, not {as_json(value)}")
            return MISSING
        return value


def shown_amount(amount: Decimal, currency: Any) -> str:
    return format_amount(amount, currency) if is_currency(currency) else str(amount)


def type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "true/false", type(None): "null"}.get(
        type(value), f"a {type(value).__name__}" if not isinstance(value, int | float) else "a number"
    )


def as_json(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return type_name(value)
    return str(value)


def parse_money(text: Any, currency: Any):
    """``parse_amount`` in ``currency``, or as a plain amount when the currency is wrong."""
    return parse_amount(text, currency) if is_currency(currency) else parse_decimal(text)
