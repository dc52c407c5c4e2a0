import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from balances.models import Account
from core.dates import business_today
from demo.builder import build_demo_document, expiring_card
from interchange.importer import ImportInvalid, portal_import
from payments.gateway import stripe_client, stripe_configured
from payments.models import Card
from payments.services import card_add
from renewals.facts import load_catalog
from renewals.open import open_renewals_sync
from tenants.models import Customer, Reseller
from tenants.scope import Actor
from tenants.services import membership_link

# (customer ref, Stripe test card): a good card for the demo login, one that
# declines at charge time, one that needs authentication.
DEMO_CARDS = [
    ("c001", "4242424242424242"),
    ("c002", "4242424242424242"),
    ("c003", "4000000000000341"),
    ("c004", "4000002500003155"),
    ("c015", "5555555555554444"),
    ("c031", "4242424242424242"),  # charged in yen
]

LOGINS = [
    # (username, password, what it is)
    ("admin", "admin", "platform admin (Django admin at /admin/)"),
    ("reseller", "reseller", "staff of Acme Hosting (reseller with a sub-reseller)"),
    ("customer", "customer", "Jane Doe, a customer of Acme Hosting"),
    ("kenji", "kenji", "Kenji Sato, a customer of Acme Japan (a sub-reseller selling in yen)"),
    ("west", "west", "staff of Acme West, a sub-reseller with its own orders from Acme Hosting (Our orders)"),
]


class Command(BaseCommand):
    help = (
        "Build the demo portal (4 resellers, 34 customers of which 3 pay in yen and 1 is a sub-reseller's own "
        "account, ~300 orders), its open renewals and the demo logins. Safe to re-run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", help="business date the demo is built around (YYYY-MM-DD); default today")
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, **options):
        try:
            today = datetime.date.fromisoformat(options["date"]) if options["date"] else business_today()
        except ValueError as exc:
            raise CommandError(f"--date: not a date ({options['date']!r}; expected YYYY-MM-DD)") from exc
        document = build_demo_document(today, seed=options["seed"])
        with transaction.atomic():
            try:
                result = portal_import(data=document, actor=Actor.system("seed_demo"))
            except ImportInvalid as exc:  # a bug in the builder, not the user's fault
                raise CommandError("the demo document is invalid:\n" + "\n".join(exc.errors)) from exc
            self._logins()
        # The renewals waiting for payment of the orders whose window is open
        # today, as the night opens them (the night itself is left to
        # run_renewals: the demo keeps tonight's work to do).
        opened = open_renewals_sync(today, load_catalog())
        self.stdout.write(f"Demo portal as of {today}: {result.summary()}; open renewals: {opened}")
        cards = self._cards(today)
        if cards:
            self.stdout.write(f"Saved test cards at Stripe ({settings.STRIPE_API_BASE or 'Stripe'}): {cards}")
        else:
            self.stdout.write("Stripe is not configured: card features are off (see README, Cards).")
        self.stdout.write("Demo logins (username / password):")
        for username, password, what in LOGINS:
            self.stdout.write(f"  {username} / {password}  - {what}")

    def _cards(self, today: datetime.date) -> int:
        """Give a few demo customers a saved card at the configured Stripe
        (localstripe in `make demo`). The import reset their Stripe ids, so a
        restarted localstripe never leaves stale ones behind."""
        if not stripe_configured():
            return 0
        system = Actor.system("seed_demo")
        saved = 0
        for ref, number in DEMO_CARDS:
            customer = Customer.objects.get(ref=ref)
            Card.objects.filter(account_id=customer.pk).delete()
            Account.objects.filter(pk=customer.pk).update(stripe_customer_id="", stripe_payment_method_id="")
            # Jane's runs out before her domain c001-o15 renews: the night warns her.
            month, year = expiring_card(today) if ref == "c001" else (12, 2031)
            method = stripe_client().PaymentMethod.create(
                type="card", card={"number": number, "exp_month": month, "exp_year": year, "cvc": "123"}
            )
            card_add(actor=system, account_id=customer.pk, payment_method_id=method.id)
            saved += 1
        return saved

    def _logins(self) -> None:
        users = get_user_model()
        admin, _ = users.objects.get_or_create(username="admin", defaults={"email": "admin@portal.test"})
        admin.is_staff = admin.is_superuser = True
        admin.set_password("admin")
        admin.save()
        for username, password, _what in LOGINS[1:]:
            user, _ = users.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_staff = user.is_superuser = False
            user.save()
        acme, jane = Reseller.objects.get(ref="acme"), Customer.objects.get(ref="c001")
        # The login's own address is the one a password reset mails.
        users.objects.filter(username="reseller").update(email=acme.email)
        users.objects.filter(username="customer").update(email=jane.email)
        membership_link(user=users.objects.get(username="reseller"), reseller=acme)
        membership_link(user=users.objects.get(username="customer"), customer=jane)
        kenji = Customer.objects.get(ref="c031")
        users.objects.filter(username="kenji").update(email=kenji.email)
        membership_link(user=users.objects.get(username="kenji"), customer=kenji)
        west = Reseller.objects.get(ref="acme-west")
        users.objects.filter(username="west").update(email=west.email)
        membership_link(user=users.objects.get(username="west"), reseller=west)
