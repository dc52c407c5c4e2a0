from django.apps import AppConfig


class RenewalsConfig(AppConfig):
    name = "renewals"
    verbose_name = "Renewals"

    def ready(self) -> None:
        from orders.services import order_change_listen
        from payments.card_notes import card_notes_register
        from payments.models import AttemptPurpose
        from payments.settlement import register
        from renewals.card_expiry import card_expiry_notes
        from renewals.claims import claimed_refs
        from renewals.open import order_changed
        from renewals.settlement import settle_renewal

        # Payments charges the card; what a renewal payment pays is settled here.
        register(AttemptPurpose.RENEWAL, settle_renewal, orders=claimed_refs)
        # Orders know nothing of open renewals; a change of an order tells them here.
        order_change_listen(order_changed)
        # The cards page warns of a default card that expires before an auto-renewal.
        card_notes_register(card_expiry_notes)
