"""The API's amount field: each amount with exactly its currency's places."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import fields, serializers

from core.money import format_amount

AMOUNT_SCHEMA = {
    "type": "string",
    "format": "decimal",
    "pattern": r"^-?\d+(\.\d{1,3})?$",
    "example": "10.00",
    "description": "an amount with exactly its currency's places: 1000 JPY, 10.00 USD, 1.500 KWD",
}


@extend_schema_field(AMOUNT_SCHEMA)
class AmountField(serializers.Field):
    """An amount, read only, as a string with its currency's places (core.money
    format_amount): "1000" for JPY, "10.00" for USD, "1.500" for KWD. The
    columns hold three places, so a DecimalField of fixed places would show
    yen with decimals and fils rounded away.

    ``currency``: the dotted path from the serialized object to the amount's
    currency code (``"currency"``, ``"account.currency"``)."""

    def __init__(self, *, currency: str = "currency", **kwargs):
        self.currency_path = currency.split(".")
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        amount = super().get_attribute(instance)
        if amount is None:
            return None
        return amount, fields.get_attribute(instance, self.currency_path)

    def to_representation(self, value):
        amount, currency = value
        return format_amount(amount, currency)
