"""Model fields of the portal's own (kept out of core.money, whose rules stay
free of django.db so that every rules module can use them)."""

from django.db import models


class MoneyField(models.DecimalField):
    """An amount column: 20 digits, 3 places.

    Three places hold every currency's minor unit (KWD and BHD have three, like
    Saleor's columns); each amount is quantized to its own currency's unit
    before it is stored, so a USD column value always ends in a 0.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 20)
        kwargs.setdefault("decimal_places", 3)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.DecimalField", args, kwargs
