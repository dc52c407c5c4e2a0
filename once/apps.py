from django.apps import AppConfig


class OnceConfig(AppConfig):
    name = "once"
    verbose_name = "Paying requests, at most once"
    default_auto_field = "django.db.models.BigAutoField"
