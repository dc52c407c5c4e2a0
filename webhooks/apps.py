from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Outbound webhooks (resellers' endpoints)"
    default_auto_field = "django.db.models.BigAutoField"
