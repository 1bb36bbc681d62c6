"""``marianne-tui migrate SOURCE TARGET [--append | --replace] [--batch-size N]``.

Copies a store between a SQLite file and a PostgreSQL URL (either way, or file to file)
with :func:`store.migrate.migrate`, draws one progress bar per table on stderr, and prints
the verification (rows and checksum of every table on both sides) on stdout.

Exit status: 0 when every table verifies, 1 when the copy cannot start or go on, or does
not verify, 2 for a bad command line. Running the same command again after an interruption
resumes the copy.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import NoReturn

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from marianne_tui.text import clean
from store.migrate import (
    DEFAULT_BATCH_SIZE,
    MigrationError,
    MigrationMode,
    MigrationProgress,
    MigrationReport,
    migrate,
)

EXIT_FAILED = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see --help)\n")


def _batch_size(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"needs a whole number, not {raw!r}") from None
    if not 1 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 100000, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="marianne-tui migrate",
        description=(
            "Copy a learning store, table by table, between a SQLite file and a PostgreSQL "
            "URL (or between two files), then verify row counts and checksums. The source "
            "is only read. Run the same command again to resume an interrupted copy."
        ),
    )
    parser.add_argument("source", metavar="SOURCE", help="store file or SQLAlchemy URL to read")
    parser.add_argument(
        "target", metavar="TARGET", help="file or URL to write (created when missing)"
    )
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument(
        "--append",
        action="store_true",
        help="add to a target that already holds data (rows it already has are kept)",
    )
    modes.add_argument(
        "--replace",
        action="store_true",
        help="delete the target's rows first (they are lost)",
    )
    parser.add_argument(
        "--batch-size",
        type=_batch_size,
        default=DEFAULT_BATCH_SIZE,
        metavar="ROWS",
        help=f"rows per committed batch (default {DEFAULT_BATCH_SIZE})",
    )
    return parser


class RowRateColumn(ProgressColumn):
    """Rows per second, as Rich measures the task's speed."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("       – rows/s", style="progress.data.speed")
        return Text(f"{speed:>8,.0f} rows/s", style="progress.data.speed")


class ProgressBars:
    """One bar per copied table, then one bar for the verification, table after table.

    The display starts with the first report, so an error before any copy prints alone.
    """

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.started = False
        self.tasks: dict[str, TaskID] = {}
        self.verify_task: TaskID | None = None

    def __call__(self, event: MigrationProgress) -> None:
        if not self.started:
            self.progress.start()
            self.started = True
        total = max(event.total, 0)
        if event.phase == "verify":
            label = f"check {event.table}"
            if self.verify_task is None:
                self.verify_task = self.progress.add_task(label, total=total)
            elif event.done == 0:
                self.progress.reset(self.verify_task, total=total, description=label)
            self.progress.update(self.verify_task, completed=event.done, total=total)
            return
        task = self.tasks.get(event.table)
        if task is None:
            task = self.progress.add_task(f"copy {event.table}", total=total)
            self.tasks[event.table] = task
        self.progress.update(task, completed=event.done, total=total)

    def stop(self) -> None:
        if self.started:
            self.progress.stop()


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<36}"),
        BarColumn(bar_width=16),
        MofNCompleteColumn(),
        RowRateColumn(),
        TimeRemainingColumn(),
        console=console,
        # A finished bar stays, so the screen ends with every table's line.
        transient=False,
    )


def verification_table(report: MigrationReport) -> Table:
    result = Table(title="Verification", title_justify="left", expand=False)
    result.add_column("table")
    result.add_column("source rows", justify="right")
    result.add_column("target rows", justify="right")
    result.add_column("source checksum")
    result.add_column("target checksum")
    result.add_column("")
    for check in report.checks:
        if not check.matches:
            verdict = Text("DIFFERS", style="bold red")
        elif check.kept_in_target:
            verdict = Text(f"ok, {check.kept_in_target} kept", style="yellow")
        else:
            verdict = Text("ok", style="green")
        result.add_row(
            check.table,
            f"{check.source_rows:,}",
            f"{check.target_rows:,}",
            check.source_checksum,
            check.target_checksum,
            verdict,
        )
    return result


def _mode(args: argparse.Namespace) -> MigrationMode:
    if args.append:
        return "append"
    if args.replace:
        return "replace"
    return "new"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.getLogger("store").addHandler(logging.NullHandler())
    os.environ.setdefault("PGCONNECT_TIMEOUT", "10")
    err = Console(stderr=True, highlight=False)
    if not err.is_terminal:
        err = Console(stderr=True, highlight=False, width=100)
    out = Console(highlight=False)
    if not out.is_terminal:
        # Rich assumes 80 columns in a pipe; the table of checksums needs about 100.
        out = Console(highlight=False, width=110)

    bars = ProgressBars(_progress(err))
    try:
        report = migrate(
            args.source,
            args.target,
            mode=_mode(args),
            batch_size=args.batch_size,
            on_progress=bars,
        )
    except MigrationError as error:
        bars.stop()
        print(f"marianne-tui migrate: {clean(str(error), 2000)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        bars.stop()
        print(
            "marianne-tui migrate: interrupted; run the same command again to resume",
            file=sys.stderr,
        )
        return EXIT_FAILED
    bars.stop()

    out.print(verification_table(report))
    resumed = " (resumed)" if report.resumed else ""
    rate = report.rows_copied / report.copy_seconds if report.copy_seconds > 0 else 0.0
    out.print(
        Text(
            f"{report.rows_copied:,} rows copied{resumed} from {clean(report.source, 2000)} to "
            f"{clean(report.target, 2000)} in {report.copy_seconds:.1f} s ({rate:,.0f} rows/s), "
            f"verified in {report.seconds - report.copy_seconds:.1f} s"
        )
    )
    for note in report.notes:
        out.print(Text(f"note: {clean(note, 2000)}"))
    if not report.verified:
        differing = ", ".join(check.table for check in report.checks if not check.matches)
        print(
            f"marianne-tui migrate: verification failed for {differing} "
            "(was the source written to during the copy?)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return 0
