"""Parsing the panels' query strings and forms: types and ranges only; the
rules live in the services."""

import datetime

from django import forms

from orders.models import PaymentSource
from orders.selectors import EXPIRING_WITHIN_MAX, SORT_KEYS, OrderFilters
from orders.states import OrderStatus


class _AsciiOnly:
    """A number in the digits 0-9 only: Django reads "٣" as 3 (core.parse)."""

    def to_python(self, value):
        if isinstance(value, str) and not value.isascii():
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class IntegerField(_AsciiOnly, forms.IntegerField):
    pass


class DecimalField(_AsciiOnly, forms.DecimalField):
    pass


class OrderFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *OrderStatus.choices])
    category = forms.ChoiceField(required=False)
    expiring_within = IntegerField(
        required=False, min_value=0, max_value=EXPIRING_WITHIN_MAX, label="Expiring within (days)"
    )
    sort = forms.ChoiceField(required=False, choices=[(key, key) for key in SORT_KEYS])

    def __init__(self, *args, categories=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", "Any category"), *((c.ref, c.name) for c in categories)]

    def filters(self, **extra) -> OrderFilters:
        """The valid filters (an invalid one is shown as an error and ignored)."""
        data = (
            self.cleaned_data
            if self.is_valid()
            else {name: value for name, value in getattr(self, "cleaned_data", {}).items() if name not in self.errors}
        )
        return OrderFilters(
            status=data.get("status") or "",
            category=data.get("category") or "",
            expiring_within=data.get("expiring_within"),
            sort=data.get("sort") or "paid_thru",
            **extra,
        )


class TopUpForm(forms.Form):
    # Up to three places (KWD): the service refuses an amount finer than the
    # account's currency or below the card processor's minimum, saying which.
    amount = DecimalField(min_value=1, max_value=100000, decimal_places=3, max_digits=20)


def parse_switch(value: str) -> bool:
    """A switch posted as "on"/"off"."""
    if value not in ("on", "off"):
        raise forms.ValidationError(f"a switch is on or off, not {value!r}")
    return value == "on"


def parse_payment_source(value: str) -> str:
    if value not in PaymentSource.values:
        raise forms.ValidationError(f"pay from {' or '.join(PaymentSource.values)}, not {value!r}")
    return value


def parse_date(value: str, what: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise forms.ValidationError(f"{what}: not a date ({value!r})") from exc
