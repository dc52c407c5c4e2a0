"""Numbers and JSON from outside (a form, a query string, a request body, an
imported file), read strictly: a bad value is a ``ParseError`` (a
ValueError) with a sentence, never a crash further in.

``str.isdigit()`` is true for "²" (which ``int()`` refuses) and for "٣"
(which ``int()`` reads as 3): a digit here is one of 0-9, and a number has a
bounded length, so 10**400 months never reach date arithmetic or a column.
"""

import json
import math
import re
from typing import Any

# Enough for any id (BigAutoField: 2**63 - 1 has 19 digits), any count or day.
MAX_INT_DIGITS = 19
MAX_ID = 2**63 - 1
# Deeper than any body or file this portal reads (an import file is 3 levels
# deep, an API body 4): the C parser would otherwise recurse until Python's
# limit and raise RecursionError, a 500.
MAX_JSON_DEPTH = 32

# A manual renewal's input, the same in the panel's form and the API: at most
# this many orders in one batch, each for at most this many months (no plan
# sells longer; a larger number is bad input, not a date past year 9999).
MAX_BATCH_ORDERS = 200
MAX_PERIOD_MONTHS = 120

_DIGITS = re.compile(r"[0-9]+")


class ParseError(ValueError):
    pass


def is_ascii_int(value: Any, *, max_digits: int = MAX_INT_DIGITS) -> bool:
    """Whether ``value`` is a string of 1 to ``max_digits`` ASCII digits."""
    return isinstance(value, str) and 0 < len(value) <= max_digits and _DIGITS.fullmatch(value) is not None


def parse_int(
    value: Any,
    *,
    low: int | None = None,
    high: int | None = None,
    what: str = "the value",
    max_digits: int = MAX_INT_DIGITS,
) -> int:
    """A whole number written in ASCII digits (no sign, no spaces), within
    [low, high] when given. ParseError otherwise, saying what is wrong."""
    if not is_ascii_int(value, max_digits=max_digits):
        shown = value if isinstance(value, str) and len(value) <= 20 else "that"
        raise ParseError(f"{what} must be a whole number written with the digits 0-9, not {shown!r}")
    number = int(value)
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"from {low} to {high}" if low is not None and high is not None else _one_bound(low, high)
        raise ParseError(f"{what} must be {bounds}, not {number}")
    return number


def _one_bound(low: int | None, high: int | None) -> str:
    return f"at least {low}" if low is not None else f"at most {high}"


def parse_id(value: Any, *, what: str = "the id") -> int:
    """A database id: 1 to 2**63 - 1, in ASCII digits."""
    return parse_int(value, low=1, high=MAX_ID, what=what)


def id_or_none(value: Any) -> int | None:
    """``parse_id``'s id, or None for anything that is not one."""
    try:
        return parse_id(value)
    except ParseError:
        return None


def _no_constant(name: str):
    raise ParseError(f"{name} is not a number JSON allows")


def parse_json(data: str | bytes, *, max_depth: int = MAX_JSON_DEPTH, parse_float=None) -> Any:
    """``json.loads`` for data from outside: NaN and Infinity refused (Python
    accepts them, JSON does not), nesting deeper than ``max_depth`` refused
    (before Python's recursion limit is reached, or after parsing for the
    depths under it). ParseError (a ValueError) for any of these and for
    JSON that does not parse."""
    try:
        value = json.loads(data, parse_constant=_no_constant, parse_float=parse_float)
    except RecursionError as exc:
        raise ParseError(f"nested more than {max_depth} levels deep") from exc
    except ParseError:
        raise
    except json.JSONDecodeError as exc:
        raise ParseError(f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from exc
    except (ValueError, UnicodeDecodeError) as exc:  # a number with more than 4300 digits, bytes not UTF-8
        raise ParseError(f"not valid JSON ({exc})") from exc
    _check_tree(value, max_depth)
    return value


def _check_tree(value: Any, max_depth: int) -> None:
    """Nesting within ``max_depth`` and every number finite ("1e309" parses as
    infinity), walked without recursion."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            raise ParseError("a number too large for JSON's floating point")
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth + 1 > max_depth:
            raise ParseError(f"nested more than {max_depth} levels deep")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list | float))
