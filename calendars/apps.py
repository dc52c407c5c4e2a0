from django.apps import AppConfig


class CalendarsConfig(AppConfig):
    name = "calendars"
    verbose_name = "Renewal calendars (private iCal feeds)"
    default_auto_field = "django.db.models.BigAutoField"
