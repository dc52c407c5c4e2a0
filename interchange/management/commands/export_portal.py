import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand

from interchange.exporter import portal_export_write


class Command(BaseCommand):
    help = "Write the portal's current state as renewal-portal/v1 JSON (standard output, or --output FILE)."

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="file to write; the default is standard output")

    def handle(self, *args, **options):
        output = options.get("output")
        if not output or output == "-":
            # The export writes its own line breaks.
            self.stdout.ending = ""
            portal_export_write(self.stdout)
            return
        target = Path(output)
        # Write beside the target and rename, so a crash never leaves half a file.
        fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                portal_export_write(out)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.stderr.write(f"Exported to {target}")
