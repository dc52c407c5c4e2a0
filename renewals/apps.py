from django.apps import AppConfig


class RenewalsConfig(AppConfig):
    name = "renewals"
    verbose_name = "Renewals"

    def ready(self) -> None:
        from payments.models import AttemptPurpose
        from payments.settlement import register
        from renewals.claims import claimed_refs
        from renewals.settlement import settle_renewal

        # Payments charges the card; what a renewal payment pays is settled here.
        register(AttemptPurpose.RENEWAL, settle_renewal, orders=claimed_refs)
