from django.core.management.base import BaseCommand, CommandError

from renewals.invariants import invariant_violations


class Command(BaseCommand):
    help = "Check the money invariants: balance == ledger sum, balance >= -credit limit, invoice total == lines."

    def handle(self, *args, **options):
        problems = invariant_violations()
        if problems:
            raise CommandError("invariants broken:\n" + "\n".join(f"  {p}" for p in problems), returncode=1)
        self.stdout.write("All invariants hold.")
