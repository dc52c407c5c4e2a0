import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.progress import add_progress_argument, command_progress
from interchange.importer import ImportInvalid, parse_json, portal_import

READ_CHUNK = 1 << 20


class Command(BaseCommand):
    help = (
        "Load a renewal-portal/v1 JSON file, all or nothing, idempotent by ref. "
        "A bad file lists every error with its path, writes nothing and exits 1."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="path of the JSON file, or - for standard input")
        add_progress_argument(parser)

    def handle(self, *args, **options):
        name = options["file"]
        with command_progress(self, options) as progress:
            try:
                text = sys.stdin.read() if name == "-" else _read(Path(name), progress)
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"cannot read {name}: {exc}", returncode=1) from exc
            try:
                data = parse_json(text)
                # The importer checks and writes in one transaction: its
                # phase ends as a whole (the objects it holds as the total).
                objects = _objects_in(data)
                progress("check and load", 0, objects)
                result = portal_import(data=data)
                progress("check and load", objects, objects)
            except ImportInvalid as exc:
                lines = "\n".join(f"  {error}" for error in exc.errors)
                raise CommandError(f"{name}: {exc.message}:\n{lines}", returncode=1) from exc
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(f"Imported {name}: {result.summary()}")


def _read(path: Path, progress) -> str:
    """The file's text, read in chunks so a large file shows its progress (bytes)."""
    if not progress:
        return path.read_text(encoding="utf-8")
    size = path.stat().st_size
    chunks = []
    done = 0
    with path.open("rb") as source:
        while chunk := source.read(READ_CHUNK):
            chunks.append(chunk)
            done += len(chunk)
            progress("read", done, size)
    return b"".join(chunks).decode("utf-8")


def _objects_in(data) -> int | None:
    if not isinstance(data, dict):
        return None
    return sum(len(rows) for rows in data.values() if isinstance(rows, list)) or None
