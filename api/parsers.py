"""Reading the API's request bodies strictly: JSON through core.parse (too
deep, NaN, Infinity or a number beyond a float is a 400, not a 500 from
RecursionError further in), and numbers in ASCII digits only."""

import codecs
from decimal import Decimal

from rest_framework import parsers, serializers
from rest_framework.exceptions import ParseError

from core.parse import ParseError as BadInput
from core.parse import parse_json


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, reading through ``core.parse.parse_json`` (the
    body's size is bounded before: core.limits)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = codecs.getreader(encoding)(stream).read()
            return parse_json(text)
        except (BadInput, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


# The largest amount a money column holds (max_digits=20, 3 places): the
# bound of every amount the API takes.
MAX_AMOUNT = Decimal("99999999999999999.999")


class _AsciiOnly:
    """A number sent as a string must use the digits 0-9: ``int()`` and
    ``Decimal()`` read "٣" as 3, which no client means to send."""

    def to_internal_value(self, data):
        if isinstance(data, str) and not data.isascii():
            self.fail("invalid")
        return super().to_internal_value(data)


class IntegerField(_AsciiOnly, serializers.IntegerField):
    pass


class DecimalField(_AsciiOnly, serializers.DecimalField):
    pass
