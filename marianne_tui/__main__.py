"""Command line: ``marianne-tui [--db PATH_OR_URL] [--config PATH] [--refresh SECONDS]
[--read-only] [--demo] [--no-mouse] [--operator NAME]``, and the commands ``export``,
``migrate``, ``serve`` and ``marianne-hook`` (``marianne-tui migrate --help``...).

Where the store is, first match wins:

1. ``--db PATH_OR_URL``: a SQLite file, or a SQLAlchemy URL (``sqlite:///...``,
   ``postgresql+psycopg://user@host/db``);
2. the environment variable ``MARIANNE_STORE`` (same forms);
3. ``store`` in the configuration file (``marianne_tui.config``);
4. Marianne's own default, ``~/.marianne/global-learning.db``.

The command line wins over the configuration file for ``--refresh``; ``read_only = true``
in the file cannot be undone by leaving out ``--read-only``. A bad configuration file is
one line on stderr and exit status 3.

``--demo`` ignores all three: it builds a fresh demo store in the user data folder and opens it.

The console never creates a store by accident: a missing file, a file that is not a
learning store, or a server that cannot be reached ends with ONE line on stderr and exit
status 1 (2 for a bad command line), never a traceback. A store whose schema is newer than
this code opens read-only, and the header says so.
"""

from __future__ import annotations

import argparse
import gc
import logging
import math
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

# The store (SQLAlchemy, SQLModel: most of the start-up) is imported by the functions that
# use it, so that main() can pause the garbage collector before it (see main).
if TYPE_CHECKING:
    from store import GlobalLearningStore

#: Environment variable naming the store when ``--db`` is not given.
STORE_ENV_VARIABLE = "MARIANNE_STORE"
MIN_REFRESH = 0.2
MAX_REFRESH = 3600.0
EXIT_CANNOT_OPEN = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (argparse prints the usage block first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see --help)\n")


def _refresh_seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"needs a number of seconds, not {raw!r}") from None
    if not math.isfinite(value) or not MIN_REFRESH <= value <= MAX_REFRESH:
        raise argparse.ArgumentTypeError(
            f"must be between {MIN_REFRESH:g} and {MAX_REFRESH:g} seconds, not {raw}"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    from store import DEFAULT_GLOBAL_STORE_PATH

    parser = _Parser(
        prog="marianne-tui",
        description="A live console for Marianne's global learning store.",
        epilog=(
            f"Store location: --db, else ${STORE_ENV_VARIABLE}, else the configuration file's"
            f" store, else {DEFAULT_GLOBAL_STORE_PATH}."
            " Keys: 1-5 screens, 6 events, 7 journal, space refresh, p pause, : commands,"
            " ? help, ctrl+q quit."
            " Other commands: export, migrate, serve, marianne-hook (each has --help)."
        ),
    )
    parser.add_argument(
        "--db",
        metavar="PATH_OR_URL",
        help=f"store file or SQLAlchemy URL (default: ${STORE_ENV_VARIABLE}, "
        f"else {DEFAULT_GLOBAL_STORE_PATH})",
    )
    parser.add_argument(
        "--refresh",
        type=_refresh_seconds,
        default=None,
        metavar="SECONDS",
        help=f"poll interval, {MIN_REFRESH:g}-{MAX_REFRESH:g} s (default: the configuration "
        "file's, else 2)",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        type=Path,
        help="configuration file (default: config.toml in the user config folder)",
    )
    parser.add_argument(
        "--read-only", action="store_true", help="open the store so that nothing can be written"
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="build a realistic demo store in the user data folder and open it",
    )
    parser.add_argument(
        "--no-mouse",
        action="store_true",
        help="do not capture the mouse (plain terminal copy and paste over SSH)",
    )
    parser.add_argument(
        "--operator",
        metavar="NAME",
        type=_operator_name,
        help="the name the journal records for your actions (default: your OS user); "
        "the host is recorded too",
    )
    return parser


def _operator_name(raw: str) -> str:
    name = raw.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise argparse.ArgumentTypeError("needs 1-100 printable characters")
    return name


def store_target(
    db: str | None,
    environ: os._Environ[str] | dict[str, str] | None = None,
    *,
    configured: str | None = None,
) -> str:
    """Where to open the store: --db, else $MARIANNE_STORE, else the configuration file's
    ``store``, else Marianne's default path."""
    from store import DEFAULT_GLOBAL_STORE_PATH

    env = os.environ if environ is None else environ
    if db:
        return db
    from_env = env.get(STORE_ENV_VARIABLE, "").strip()
    return from_env or configured or str(DEFAULT_GLOBAL_STORE_PATH)


def open_store(target: str, *, read_only: bool) -> GlobalLearningStore:
    """Open an existing store, or raise StoreError / a driver error (never creates one).

    A short busy timeout: a write waiting on another process's lock gives the console
    back control every second, to say so and to let the operator cancel (store_calls).
    """
    from marianne_tui.store_calls import CONSOLE_BUSY_TIMEOUT_SECONDS
    from store import GlobalLearningStore

    return GlobalLearningStore(target, create=False, read_only=read_only,
                               busy_timeout=CONSOLE_BUSY_TIMEOUT_SECONDS)


def _one_line(error: BaseException) -> str:
    """The first line of an error's message, without driver noise."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def redact(target: str) -> str:
    """A URL without its password, fit to print."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", target)


def _fail(message: str) -> int:
    print(f"marianne-tui: {message}", file=sys.stderr)
    return EXIT_CANNOT_OPEN


def main(argv: Sequence[str] | None = None) -> int:
    from marianne_tui.subcommands import is_subcommand, run_subcommand

    arguments = list(sys.argv[1:] if argv is None else argv)
    if is_subcommand(arguments):
        return run_subcommand(arguments)
    # Start-up makes a few hundred thousand objects that live as long as the console
    # (modules, classes, the first screen); the collector would walk them all several times
    # for nothing (about 50 ms of a 1 s start, measured on the 20k store). It is paused until
    # the first paint, where the app freezes that heap and turns the collector back on
    # (MarianneApp._after_first_paint); the few thousand cyclic leftovers of start-up are
    # kept (a full collection then would block the screen for ~100 ms).
    gc.disable()
    try:
        return _console(arguments)
    finally:
        gc.enable()


def _console(arguments: list[str]) -> int:
    from store import StoreError

    args = build_parser().parse_args(arguments)
    from marianne_tui.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"marianne-tui: {error}", file=sys.stderr)
        return EXIT_CONFIG
    read_only = args.read_only or config.read_only
    # The store logs schema warnings; with no handler Python would print them on stderr,
    # on top of the console's screen. The header shows them instead.
    logging.getLogger("store").addHandler(logging.NullHandler())
    # An unreachable PostgreSQL host must fail in seconds, not after the OS's TCP timeout.
    os.environ.setdefault("PGCONNECT_TIMEOUT", "10")

    if args.demo:
        if args.db:
            build_parser().error("--demo builds its own store: leave out --db")
        from marianne_tui.demo import build_demo_store, default_demo_path

        path = default_demo_path()
        print(f"marianne-tui: building a demo store in {path} ...", file=sys.stderr, flush=True)
        try:
            target = str(build_demo_store(path))
        except (OSError, StoreError) as error:
            return _fail(f"cannot build the demo store in {path}: {_one_line(error)}")
    else:
        target = store_target(args.db, configured=config.store)
        if "://" not in target and not Path(target).expanduser().exists():
            # Said before the store is asked, in the operator's terms.
            return _fail(f"no store at {target} (give --db PATH or set ${STORE_ENV_VARIABLE})")

    try:
        store = open_store(target, read_only=read_only)
    except StoreError as error:
        return _fail(_one_line(error))
    except Exception as error:
        return _fail(f"cannot open {redact(target)}: {type(error).__name__}: {_one_line(error)}")

    from marianne_tui.app import MarianneApp

    store.operator = args.operator
    app = MarianneApp(
        store,
        refresh_seconds=args.refresh or config.refresh,
        read_only=read_only,
        config=config,
    )
    try:
        app.run(mouse=not args.no_mouse)
    finally:
        store.close()
    return app.return_code or 0


if __name__ == "__main__":
    raise SystemExit(main())
