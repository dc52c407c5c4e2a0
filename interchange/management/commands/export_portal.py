import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand

from core.progress import add_progress_argument, command_progress
from interchange.exporter import portal_export_write


class Command(BaseCommand):
    help = "Write the portal's current state as renewal-portal/v1 JSON (standard output, or --output FILE)."

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="file to write; the default is standard output")
        add_progress_argument(parser)

    def handle(self, *args, **options):
        output = options.get("output")
        with command_progress(self, options) as progress:
            if not output or output == "-":
                # The export writes its own line breaks.
                self.stdout.ending = ""
                portal_export_write(_Counted(self.stdout, progress) if progress else self.stdout)
                return
            target = Path(output)
            # Write beside the target and rename, so a crash never leaves half a file.
            fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    portal_export_write(_Counted(out, progress) if progress else out)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        self.stderr.write(f"Exported to {target}")


class _Counted:
    """The output, counting the lines written as they go: the export writes
    one object (a reseller, an order, an invoice ...) per line."""

    def __init__(self, out, progress):
        self.out = out
        self.progress = progress
        self.lines = 0

    def write(self, text: str) -> None:
        self.out.write(text)
        self.lines += text.count("\n")
        self.progress("objects written", self.lines, None)
