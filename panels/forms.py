"""Parsing the panels' query strings and forms: types and ranges only; the
rules live in the services."""

import datetime
import re
from decimal import Decimal

from django import forms

from core.parse import MAX_BATCH_ORDERS, MAX_PERIOD_MONTHS, ParseError, parse_id, parse_int
from orders.models import AfterRenewal, PaymentSource
from orders.selectors import EXPIRING_WITHIN_MAX, SORT_KEYS, OrderFilters
from orders.states import OrderStatus
from renewals.selectors import CenterFilters


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


# The renewal center's "expiring within" choices, in days.
CENTER_WITHIN = (7, 30, 90)
DATE = {"type": "date"}  # the browser's date picker; the value is YYYY-MM-DD


class CenterFilterForm(forms.Form):
    """The renewal center's filters (renewals.selectors.CenterFilters): a
    product, a category, a status, and the paid-thru date within 7, 30 or 90
    days or within a range. An invalid filter is shown as an error and
    ignored, like the orders list's."""

    plan = forms.ChoiceField(required=False, label="Product")
    category = forms.ChoiceField(required=False)
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *OrderStatus.choices])
    within = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        label="Expiring within",
        choices=[("", "Any time"), *((str(days), f"{days} days") for days in CENTER_WITHIN)],
    )
    expires_from = forms.DateField(required=False, label="Paid thru from", widget=forms.DateInput(attrs=DATE))
    expires_to = forms.DateField(required=False, label="Paid thru to", widget=forms.DateInput(attrs=DATE))

    def __init__(self, *args, products=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].choices = [("", "Any product"), *((p.ref, p.name) for p in products)]
        kinds = {p.category.ref: p.category.name for p in products}
        self.fields["category"].choices = [
            ("", "Any category"),
            *sorted(kinds.items(), key=lambda kind: (kind[1].lower(), kind[0])),
        ]

    def clean(self):
        data = super().clean()
        start, end = data.get("expires_from"), data.get("expires_to")
        if start and end and start > end:
            self.add_error("expires_to", f"the range ends ({end}) before it starts ({start})")
        return data

    def filters(self, on: datetime.date) -> CenterFilters:
        """The valid filters as of ``on`` (an invalid one is ignored); "within"
        N days ends the range N days after ``on`` (or the range's own end, if
        sooner)."""
        self.is_valid()
        data = {name: value for name, value in self.cleaned_data.items() if name not in self.errors}
        end = data.get("expires_to")
        if data.get("within") is not None:
            soon = on + datetime.timedelta(days=data["within"])
            end = min(end, soon) if end else soon
        return CenterFilters(
            plan=data.get("plan") or "",
            category=data.get("category") or "",
            status=data.get("status") or "",
            expires_from=data.get("expires_from"),
            expires_to=end,
        )


# A bulk move of the renewal center: the ticked orders, or all of the tab.
BULK_MOVES = {"to-manual": False, "to-auto": True}
BULK_SCOPES = ("selected", "all")
MAX_BULK_TICKED = 1000


class BulkMoveForm(forms.Form):
    """The renewal center's bulk move: ``move`` ("to-manual" or "to-auto"),
    ``scope`` ("selected": the ticked ``order`` ids; "all": every order of the
    tab and filter, found again on the server)."""

    move = forms.ChoiceField(
        choices=[(move, move) for move in BULK_MOVES],
        error_messages={"invalid_choice": "move orders to-manual or to-auto, not %(value)r"},
    )
    scope = forms.ChoiceField(
        choices=[(scope, scope) for scope in BULK_SCOPES],
        error_messages={"invalid_choice": "move the selected orders or all, not %(value)r"},
    )

    def clean(self):
        data = super().clean()
        if data.get("scope") != "selected":
            data["order"] = []
            return data
        ticked = self.data.getlist("order") if hasattr(self.data, "getlist") else []
        if not ticked:
            raise forms.ValidationError("Tick at least one order to move.")
        if len(ticked) > MAX_BULK_TICKED:
            raise forms.ValidationError(f"move at most {MAX_BULK_TICKED} ticked orders at once (or move all)")
        try:
            data["order"] = [parse_id(one, what="an order number") for one in ticked]
        except ParseError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data


def parse_renewal_day(value: str) -> int | None:
    """The standing renewal day as posted: 1-31, or empty for none."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return parse_int(value, low=1, high=31, what="the renewal day")
    except ParseError as exc:
        raise forms.ValidationError(f"{exc} (a day of the month, or empty for none)") from exc


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
        # The renewal page's own form has the "Renew on a standard renewal
        # day" box (``aligning`` marks it): unticked, no alignment, whatever
        # day is shown (a day that is not one is still refused).
        ticked = not self.data.get("aligning") or self.data.get("align") == "on"
        if not value:
            if ticked and self.data.get("aligning"):
                raise forms.ValidationError("give the day of the month to renew on, or untick the renewal day")
            return None
        try:
            day = parse_int(value, low=1, high=31, what="the renewal day")
        except ParseError as exc:
            raise forms.ValidationError(f"{exc} (a day of the month)") from exc
        return day if ticked else None

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
        # An SSL order's CSR (``csr_<id>``), checked by the quote (renewals.csr).
        data["csrs"] = {i: text for i in data["order"] if (text := self.data.get(f"csr_{i}", "")).strip()}
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


class OrderTermsForm(forms.Form):
    """An order's renewal terms as a reseller posts them (orders.services.
    order_set_terms checks the rules): an empty field returns to the plan's."""

    lead_days = IntegerField(required=False, min_value=0, max_value=32767, label="Auto-renew point (days)")
    individual_price = DecimalField(
        required=False, min_value=0, max_digits=20, decimal_places=3, label="Individual price"
    )
    after_renewal = forms.ChoiceField(choices=AfterRenewal.choices, label="After a renewal at that price")

    def problem(self) -> str:
        """The first bad field, as a sentence naming it."""
        name, errors = next(iter(self.errors.items()))
        label = self.fields[name].label if name in self.fields else "The form"
        return f"{label}: {errors[0]}"
