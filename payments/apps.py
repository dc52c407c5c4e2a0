from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Card payments"

    def ready(self) -> None:
        from django.core import checks

        from payments.models import AttemptPurpose
        from payments.settlement import handlers_check, register, top_up_settle

        register(AttemptPurpose.TOP_UP, top_up_settle)
        checks.register(handlers_check)
