import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from interchange.importer import ImportInvalid, parse_json, portal_import


class Command(BaseCommand):
    help = (
        "Load a renewal-portal/v1 JSON file, all or nothing, idempotent by ref. "
        "A bad file lists every error with its path, writes nothing and exits 1."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="path of the JSON file, or - for standard input")

    def handle(self, *args, **options):
        name = options["file"]
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {name}: {exc}", returncode=1) from exc
        try:
            result = portal_import(data=parse_json(text))
        except ImportInvalid as exc:
            lines = "\n".join(f"  {error}" for error in exc.errors)
            raise CommandError(f"{name}: {exc.message}:\n{lines}", returncode=1) from exc
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(f"Imported {name}: {result.summary()}")
