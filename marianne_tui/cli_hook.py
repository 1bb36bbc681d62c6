"""``marianne-tui marianne-hook install | remove | status [--site-packages DIR]``.

Installs (or removes) the one-line ``.pth`` file that lets an unmodified Marianne, running in
this Python environment, use marianne-tui's store, and so a shared PostgreSQL store. The hook
is inert until ``$MARIANNE_LEARNING_STORE_URL`` names a store; see
``marianne_tui_store_hook`` for what it does and how it fails closed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import sysconfig
from pathlib import Path
from typing import NoReturn

from marianne_tui.text import clean
from marianne_tui_store_hook import ENV_VARIABLE

PTH_NAME = "marianne_tui_store_hook.pth"
MARKER = "# marianne-tui store hook"
#: find_spec first, so that a .pth left behind by an uninstalled marianne-tui stays silent.
PTH_TEXT = (
    f"{MARKER}: Marianne uses marianne-tui's store while ${ENV_VARIABLE} is set.\n"
    "# Remove with: marianne-tui marianne-hook remove\n"
    'import importlib.util as _u; _u.find_spec("marianne_tui_store_hook") and '
    '__import__("marianne_tui_store_hook").activate()\n'
)
EXIT_FAILED = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="marianne-tui marianne-hook",
        description=(
            "Let Marianne, installed in this Python environment, use marianne-tui's store "
            f"whenever ${ENV_VARIABLE} names one (a PostgreSQL URL, typically)."
        ),
    )
    parser.add_argument("action", choices=("install", "remove", "status"))
    parser.add_argument(
        "--site-packages",
        type=Path,
        metavar="DIR",
        help="where to write the .pth file (default: this interpreter's site-packages)",
    )
    return parser


def default_site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def install(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / PTH_NAME
    temporary = path.with_suffix(".pth.tmp")
    temporary.write_text(PTH_TEXT)
    os.replace(temporary, path)
    return path


def remove(directory: Path) -> Path | None:
    path = directory / PTH_NAME
    if not path.exists():
        return None
    if MARKER not in path.read_text(errors="replace"):
        raise OSError(f"{path} was not written by marianne-tui; left alone")
    path.unlink()
    return path


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    directory: Path = args.site_packages or default_site_packages()
    try:
        if args.action == "install":
            path = install(directory)
            print(f"installed {path}")
            if importlib.util.find_spec("marianne") is None:
                print(
                    "note: Marianne is not importable from this Python; install marianne-tui "
                    "in Marianne's environment for the hook to matter"
                )
            print(f"active while ${ENV_VARIABLE} names a store, e.g.")
            print(f"  export {ENV_VARIABLE}='postgresql+psycopg://marianne@db-host/marianne'")
        elif args.action == "remove":
            removed = remove(directory)
            print(f"removed {removed}" if removed else f"no hook in {directory}")
        else:
            path = directory / PTH_NAME
            print(f"hook: {'installed in ' + str(path) if path.exists() else 'not installed'}")
            value = os.environ.get(ENV_VARIABLE, "").strip()
            from marianne_tui.__main__ import redact

            shown = clean(redact(value), 500) if value else "not set (hook inactive)"
            print(f"${ENV_VARIABLE}: {shown}")
    except OSError as error:
        print(f"marianne-tui marianne-hook: {clean(str(error), 500)}", file=sys.stderr)
        return EXIT_FAILED
    return 0
