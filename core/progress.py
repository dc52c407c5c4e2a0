"""Progress of a long command on an operator's terminal, and nowhere else.

Shown only when the command's stderr is a terminal, ``--json`` was not given
and ``--no-progress`` was not: a cron job, a pipe, a script or a test sees
only the report on stdout. The bars go to stderr, so stdout stays the report
even on a terminal (``run_renewals --json > report.json`` shows no bar, and
``run_renewals > report.txt`` shows bars on the terminal and writes only the
report).

tqdm draws them: no dependencies of its own, and it leaves log lines intact
while a bar is drawn (``logging_redirect_tqdm``).
"""

import contextlib
from collections.abc import Callable, Iterator

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

# ``progress(phase, done, total)``: the phase's name, how many of its items
# are done so far, and how many it has (None: not known in advance).
ProgressCallback = Callable[[str, int, int | None], None]


def add_progress_argument(parser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bars, even on a terminal")


def progress_wanted(stream, options: dict) -> bool:
    """Bars only for a person watching: stderr is a terminal, and neither
    ``--json`` nor ``--no-progress`` was asked for."""
    if options.get("json") or options.get("no_progress"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Progress:
    """A ``ProgressCallback`` drawing one bar per phase; quiet without a stream.

    False when quiet, so ``work(progress=progress or None)`` spares the work
    whatever it does only to report progress."""

    def __init__(self, stream=None):
        self.stream = stream
        self._phase: str | None = None
        self._bar: tqdm | None = None

    def __bool__(self) -> bool:
        return self.stream is not None

    def __call__(self, phase: str, done: int, total: int | None = None) -> None:
        if self.stream is None:
            return
        if phase != self._phase or self._bar is None:
            self._close_bar()
            self._phase = phase
            self._bar = tqdm(desc=phase, total=total, file=self.stream, unit="", dynamic_ncols=True, leave=True)
        bar = self._bar
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    def close(self) -> None:
        self._close_bar()

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar = None
        self._phase = None


@contextlib.contextmanager
def command_progress(command, options: dict) -> Iterator[Progress]:
    """The progress of a management command, decided by ``progress_wanted``
    on the command's own stderr (what ``call_command(stderr=...)`` passed, or
    the process's)."""
    # Django's OutputWrapper appends a line ending to each write; a bar
    # redraws its line with a carriage return, so it writes to the stream
    # underneath.
    stream = getattr(command.stderr, "_out", command.stderr)
    if not progress_wanted(stream, options):
        yield Progress()
        return
    progress = Progress(stream)
    try:
        with logging_redirect_tqdm():
            yield progress
    finally:
        progress.close()
