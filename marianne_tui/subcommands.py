"""The commands that are not the console: ``export``, ``migrate``, ``serve`` and
``marianne-hook``.

``marianne-tui NAME ...`` hands the rest of the command line to the module of that command;
each has its own parser and help (``marianne-tui migrate --help``).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

#: Command name -> module with a ``main(argv) -> int``.
SUBCOMMANDS: dict[str, str] = {
    "export": "marianne_tui.cli_export",
    "migrate": "marianne_tui.cli_migrate",
    "serve": "marianne_tui.serve",
    "marianne-hook": "marianne_tui.cli_hook",
}


def is_subcommand(argv: Sequence[str]) -> bool:
    return bool(argv) and argv[0] in SUBCOMMANDS


def run_subcommand(argv: Sequence[str]) -> int:
    module = importlib.import_module(SUBCOMMANDS[argv[0]])
    result: int = module.main(list(argv[1:]))
    return result
