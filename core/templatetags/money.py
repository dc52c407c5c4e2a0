"""``{{ amount|amount:currency }}``: an amount with exactly its currency's
places ("1000" JPY, "10.00" USD, "1.500" KWD), as core.money writes it."""

from django import template

from core.money import exponent, format_amount, minor_unit

register = template.Library()


@register.filter(name="amount")
def amount(value, currency):
    if value is None or value == "":
        return ""
    return format_amount(value, currency)


@register.filter(name="places")
def places(currency):
    """The decimal places of ``currency``'s minor unit (for a form's step and scripts)."""
    return exponent(currency)


@register.filter(name="step")
def step(currency):
    """The step of a number input in ``currency``: "1", "0.01", "0.001"."""
    return f"{minor_unit(currency):f}"
