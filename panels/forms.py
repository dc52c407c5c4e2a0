"""Parsing the panels' query strings and forms: types and ranges only; the
rules live in the services."""

import datetime
import re
from decimal import Decimal

from django import forms

from core.parse import MAX_BATCH_ORDERS, MAX_PERIOD_MONTHS, ParseError, parse_id, parse_int
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


# A paying form (renew, top up) carries a one-time token in a hidden field,
# which once.services takes as the login's Idempotency-Key: a second submit
# of the same form (a double click, a reload, the back button) gets the first
# answer and charges nothing.
FORM_TOKEN = re.compile(r"form-[0-9a-f]{32}")
SHOWN_TOTAL = re.compile(r"[0-9]{1,17}(\.[0-9]{1,3})?")
EXPIRED = "This form has expired and nothing was charged; check the amount and send it again."
PAYMENTS = ("balance", "card")


def posted_token(data) -> str | None:
    """The form's one-time token, or None when it is missing or not one."""
    token = data.get("form_token") or ""
    return token if FORM_TOKEN.fullmatch(token) else None


def first_error(form: forms.Form) -> str:
    """The first thing wrong with a form, fields in their order first."""
    return next(message for errors in form.errors.values() for message in errors)


class OrderIdsField(forms.Field):
    """Every value posted under the name: order ids, at most a batch of them."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[int]:
        values = value or []
        if len(values) > MAX_BATCH_ORDERS:
            raise forms.ValidationError(f"renew at most {MAX_BATCH_ORDERS} orders at once")
        try:
            return [parse_id(one, what="an order number") for one in values]
        except ParseError as exc:
            raise forms.ValidationError(str(exc)) from exc


class RenewForm(forms.Form):
    """The renewal page's choices, from the orders page's ticks (GET) or the
    page's own form (POST): the orders (``order``, repeated), each one's
    period (``months_<id>``, else the plan's default: ``months`` leaves it
    out), one renewal day, auto-renew from the next cycle
    (``auto_renew_<id>``) and how to pay, as shown (balance unless card)."""

    order = OrderIdsField(required=False)
    align_day = forms.Field(required=False)
    payment = forms.Field(required=False)

    def clean_align_day(self) -> int | None:
        value = (self.cleaned_data["align_day"] or "").strip()
        if not value:
            return None
        try:
            return parse_int(value, low=1, high=31, what="the renewal day")
        except ParseError as exc:
            raise forms.ValidationError(f"{exc} (a day of the month)") from exc

    def clean_payment(self) -> str:
        value = self.cleaned_data["payment"]
        return value if value in PAYMENTS else "balance"

    def clean(self):
        data = super().clean()
        if "order" not in data or "align_day" not in data:
            return data
        if not data["order"]:
            raise forms.ValidationError("Tick at least one order to renew.")
        months = {}
        for order_id in data["order"]:
            chosen = self.data.get(f"months_{order_id}", "").strip()
            if chosen:
                try:
                    months[order_id] = parse_int(chosen, low=1, high=MAX_PERIOD_MONTHS, what="the period in months")
                except ParseError as exc:
                    raise forms.ValidationError(str(exc)) from exc
        data["months"] = months
        data["auto_renew_next"] = {i for i in data["order"] if self.data.get(f"auto_renew_{i}") == "on"}
        return data


class RenewPayForm(forms.Form):
    """The pay button's form: the quote the customer saw (each order's pin,
    ``pin_<id>``, and the total), paid once per form token. Anything of it
    missing or damaged: the form has expired, and nothing is paid."""

    form_token = forms.Field(required=False)
    expected_total = forms.Field(required=False)
    payment = forms.ChoiceField(
        required=False,
        choices=[(way, way) for way in PAYMENTS],
        error_messages={"invalid_choice": "unknown payment method '%(value)s' (balance or card)"},
    )

    def __init__(self, data, *, choice: dict):
        super().__init__(data)
        self.choice = choice

    def clean_form_token(self) -> str:
        token = posted_token(self.cleaned_data)
        if token is None:
            raise forms.ValidationError(EXPIRED)
        return token

    def clean_expected_total(self) -> Decimal:
        total = self.cleaned_data["expected_total"] or ""
        if not SHOWN_TOTAL.fullmatch(total):
            raise forms.ValidationError(EXPIRED)
        return Decimal(total)

    def clean_payment(self) -> str:
        return self.cleaned_data["payment"] or "balance"

    def clean(self):
        data = super().clean()
        order_ids = self.choice["order"]
        try:
            data["pins"] = {i: datetime.date.fromisoformat(self.data.get(f"pin_{i}", "")) for i in order_ids}
        except ValueError:
            raise forms.ValidationError(EXPIRED) from None
        # A period not posted is the plan's default (once.services.renewal_pay_once).
        data["items"] = [(i, self.choice["months"].get(i)) for i in order_ids]
        return data
