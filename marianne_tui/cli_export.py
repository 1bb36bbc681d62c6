"""``marianne-tui export``: a screen's rows, filtered and sorted as the console would show
them, for scripts. CSV on standard output unless ``--output FILE``.

    marianne-tui export --screen patterns --status quarantined --format csv
    marianne-tui export --screen drift --all --format ndjson --output drift.ndjson

The store is chosen as for the console: ``--db``, else ``$MARIANNE_STORE``, else the
configuration file's ``store``, else Marianne's default path. It is always opened read-only.

Exit status (an API: scripts may rely on it):

* 0: exported (zero matching rows is still 0: the file holds only the header);
* 1: the store cannot be opened or read;
* 2: bad command line;
* 3: bad configuration file;
* 4: the output file cannot be written (it exists already, or the folder is not writable).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from marianne_tui import export
from marianne_tui.config import SCREEN_NAMES, SORTS, STATUSES, ConfigError, load_config

EXIT_OK = 0
EXIT_STORE = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_OUTPUT = 4


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"marianne-tui export: {message} (see --help)\n")


def _screen(raw: str) -> str:
    name = raw.replace("-", "_")
    if name == "esc":
        name = "escalations"
    if name not in SCREEN_NAMES or name == "budget":
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a list (patterns, drift, escalations, rate-limits)"
        )
    return name


def _statuses(raw: str) -> list[str]:
    names = [part.strip() for part in raw.split(",") if part.strip()]
    for name in names:
        if name not in STATUSES:
            raise argparse.ArgumentTypeError(f"{name!r} is not one of {', '.join(STATUSES)}")
    return names


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"needs a whole number, not {raw!r}") from None
    if not 1 <= value <= 50:
        raise argparse.ArgumentTypeError(f"must be from 1 to 50, not {raw}")
    return value


def _threshold(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"needs a number, not {raw!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1, not {raw}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="marianne-tui export",
        description="Write a screen's rows (its filters and sort, all pages) as CSV, JSON "
        "or NDJSON. Exit status: 0 exported, 1 store cannot be opened or read, 2 bad "
        "command line, 3 bad configuration file, 4 output cannot be written.",
    )
    parser.add_argument("--screen", type=_screen, default="patterns",
                        help="patterns (default), drift, escalations or rate-limits")
    parser.add_argument("--format", choices=export.FORMATS, default="csv",
                        help="csv (default), json or ndjson")
    parser.add_argument("--output", metavar="FILE",
                        help="write to this new file instead of standard output")
    parser.add_argument("--db", metavar="PATH_OR_URL",
                        help="store file or SQLAlchemy URL (default as for the console)")
    parser.add_argument("--config", metavar="PATH", type=Path,
                        help="configuration file (default: the user config folder's)")
    parser.add_argument("--filter", default="", metavar="TEXT",
                        help="the screen's / filter (patterns: name or description)")
    patterns = parser.add_argument_group("patterns")
    patterns.add_argument("--status", type=_statuses, action="extend", default=[],
                          metavar="STATUS[,STATUS]", help=", ".join(STATUSES))
    patterns.add_argument("--type", dest="pattern_type", metavar="TYPE")
    patterns.add_argument("--attention", action="store_true",
                          help="only patterns that need attention (key a)")
    patterns.add_argument("--sort", choices=SORTS, default="priority")
    order = patterns.add_mutually_exclusive_group()
    order.add_argument("--ascending", dest="descending", action="store_false", default=None)
    order.add_argument("--descending", dest="descending", action="store_true")
    drift = parser.add_argument_group("drift")
    drift.add_argument("--window", type=_positive_int, metavar="N")
    drift.add_argument("--threshold", type=_threshold, metavar="X",
                       help="effectiveness drift threshold")
    drift.add_argument("--belief-threshold", type=_threshold, metavar="X",
                       help="epistemic drift threshold")
    drift.add_argument("--all", action="store_true",
                       help="every analysed pattern, not only those exceeding a threshold")
    return parser


def _fail(code: int, message: str) -> int:
    print(f"marianne-tui export: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.getLogger("store").addHandler(logging.NullHandler())
    os.environ.setdefault("PGCONNECT_TIMEOUT", "10")
    try:
        config = load_config(args.config)
    except ConfigError as error:
        return _fail(EXIT_CONFIG, str(error))

    from marianne_tui.__main__ import _one_line as one_line
    from marianne_tui.__main__ import open_store, redact, store_target
    from store import StoreError

    target = store_target(args.db, configured=config.store)
    if "://" not in target and not Path(target).expanduser().exists():
        return _fail(EXIT_STORE, f"no store at {target}")
    output: Path | None = Path(args.output) if args.output else None
    if output is not None and output.exists():
        return _fail(EXIT_OUTPUT, f"{output} exists already: give a new file")
    try:
        store = open_store(target, read_only=True)
    except StoreError as error:
        return _fail(EXIT_STORE, one_line(error))
    except Exception as error:
        return _fail(EXIT_STORE, f"cannot open {redact(target)}: {type(error).__name__}: "
                     f"{one_line(error)}")
    try:
        try:
            records = read_records(store, args, config.stale_age_days)
        except Exception as error:  # the store failed while reading: nothing was written
            return _fail(EXIT_STORE, f"cannot read {redact(target)}: {type(error).__name__}: "
                         f"{one_line(error)}")
        columns = export.COLUMNS[args.screen]
        if output is None:
            export.write_records(sys.stdout, records, columns, args.format)
            sys.stdout.flush()
            return EXIT_OK
        try:
            count = export.write_file(output, records, columns, args.format)
        except OSError as error:
            return _fail(EXIT_OUTPUT, f"cannot write {output}: {error.strerror or error}")
        print(f"marianne-tui export: {count} rows written to {output}", file=sys.stderr)
        return EXIT_OK
    finally:
        store.close()


def read_records(store: object, args: argparse.Namespace, stale_age_days: float = 7.0
                 ) -> list[export.Record]:
    """The rows of ``args.screen`` as the console would show them, all read before writing
    (a failed read leaves no half-written file)."""
    from store import GlobalLearningStore, PatternQuery, PatternSort

    assert isinstance(store, GlobalLearningStore)
    screen = args.screen
    if screen == "patterns":
        from marianne_tui.screens.patterns import SORT_CYCLE

        sort = PatternSort(args.sort)
        natural = dict(SORT_CYCLE).get(sort, True)
        query = PatternQuery(
            text=args.filter.strip(),
            statuses=tuple(args.status),
            pattern_type=args.pattern_type,
            needs_attention=args.attention,
            sort=sort,
            descending=natural if args.descending is None else args.descending,
        )
        return [export.pattern_record(row) for row in export.all_pattern_rows(store, query)]
    if screen == "drift":
        from marianne_tui.screens.drift import DriftParams

        defaults = DriftParams()
        report = store.drift_report(
            window_size=args.window or defaults.window_size,
            drift_threshold=args.threshold or defaults.drift_threshold,
            epistemic_threshold=args.belief_threshold or defaults.epistemic_threshold,
            only_exceeding=not args.all,
            limit=defaults.limit,
            text=args.filter or "",
        )
        return [export.drift_record(row) for row in report.rows
                if export.drift_matches(row, args.filter)]
    if screen == "escalations":
        from datetime import timedelta

        from store import EscalationSort

        # The screen as it opens: the queue (awaiting newest first, stale, decided).
        return export.queued_escalation_records(
            store, timedelta(days=stale_age_days), EscalationSort.RECORDED, True, args.filter)
    from marianne_tui.screens.rate_limits import FETCH_LIMIT as RATE_LIMITS_LIMIT

    return [export.rate_limit_record(event)
            for event in store.get_active_rate_limits(limit=RATE_LIMITS_LIMIT)]
