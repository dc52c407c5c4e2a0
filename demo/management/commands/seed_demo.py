import datetime

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from core.dates import business_today
from demo.builder import build_demo_document
from interchange.importer import ImportInvalid, portal_import
from tenants.models import Customer, Reseller
from tenants.scope import Actor
from tenants.services import membership_link

LOGINS = [
    # (username, password, what it is)
    ("admin", "admin", "platform admin (Django admin at /admin/)"),
    ("reseller", "reseller", "staff of Acme Hosting (reseller with a sub-reseller)"),
    ("customer", "customer", "Jane Doe, a customer of Acme Hosting"),
]


class Command(BaseCommand):
    help = "Build the demo portal (3 resellers, 30 customers, ~300 orders) and the demo logins. Safe to re-run."

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
        self.stdout.write(f"Demo portal as of {today}: {result.summary()}")
        self.stdout.write("Demo logins (username / password):")
        for username, password, what in LOGINS:
            self.stdout.write(f"  {username} / {password}  - {what}")

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
        membership_link(user=users.objects.get(username="reseller"), reseller=Reseller.objects.get(ref="acme"))
        membership_link(user=users.objects.get(username="customer"), customer=Customer.objects.get(ref="c001"))
