"""The platform's business date."""

import datetime

from django.utils import timezone


def business_today() -> datetime.date:
    """Today in the platform time zone (settings.TIME_ZONE): the billing day."""
    return timezone.localdate()
