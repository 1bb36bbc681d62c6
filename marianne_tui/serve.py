"""``marianne-tui serve``: the console in a web browser, through textual-serve.

Every browser tab that opens the page gets an app process of its own (textual-serve starts
one per websocket), and each opens the store itself, **read-only unless --allow-writes**.

textual-serve has no authentication: whoever reaches the port drives a console. So the
server binds 127.0.0.1 by default, refuses an address that is not loopback unless
``--public`` says so on purpose, and prints the ``ssh -L`` command that brings the page to
a colleague's machine through SSH instead. It also refuses websockets opened by pages of
another origin, so a web page in the operator's own browser cannot drive the console
through localhost (textual-serve itself accepts any).

The store's location reaches each app process through ``$MARIANNE_STORE``, never on a
command line, so a password in a URL shows neither in ``ps`` nor in the server's banner.
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import logging
import os
import shlex
import socket
import sys
from typing import Any, NoReturn

from marianne_tui.__main__ import (
    MAX_REFRESH,
    MIN_REFRESH,
    STORE_ENV_VARIABLE,
    _operator_name,
    _refresh_seconds,
    open_store,
    redact,
    store_target,
)
from marianne_tui.text import clean
from store import StoreError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
EXIT_FAILED = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see --help)\n")


def _port(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"needs a port number, not {raw!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 1 and 65535, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="marianne-tui serve",
        description=(
            "Serve the console to web browsers (textual-serve): one app process per "
            "visitor, each opening the store read-only unless --allow-writes. There is no "
            "login: keep it on 127.0.0.1 and reach it through SSH."
        ),
    )
    parser.add_argument(
        "--db", metavar="PATH_OR_URL", help=f"store (default ${STORE_ENV_VARIABLE})"
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--public",
        action="store_true",
        help="allow binding an address other than loopback (anyone who reaches it drives "
        "the console: there is no authentication)",
    )
    parser.add_argument(
        "--allow-writes",
        action="store_true",
        help="let visitors quarantine, validate, retire and record outcomes",
    )
    parser.add_argument(
        "--operator",
        metavar="NAME",
        type=_operator_name,
        help="with --allow-writes: the name journalled for visitors' actions (textual-serve "
        "cannot tell visitors apart; default: the OS user running serve)",
    )
    parser.add_argument(
        "--refresh",
        type=_refresh_seconds,
        default=2.0,
        metavar="SECONDS",
        help=f"each console's poll interval, {MIN_REFRESH:g}-{MAX_REFRESH:g} s (default 2)",
    )
    return parser


def is_loopback(host: str) -> bool:
    """True when every address the name stands for is a loopback address."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(str(address).split("%")[0]).is_loopback for address in addresses
    )


def app_command(*, allow_writes: bool, refresh: float, operator: str | None = None) -> str:
    """The shell command textual-serve runs for each visitor (the store is in the env)."""
    words = [sys.executable, "-m", "marianne_tui", "--refresh", f"{refresh:g}", "--no-mouse"]
    if not allow_writes:
        words.append("--read-only")
    elif operator:
        words += ["--operator", operator]
    return shlex.join(words)


def ssh_recipe(host: str, port: int) -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "you"
    machine = socket.gethostname()
    local = "127.0.0.1" if is_loopback(host) else host
    return (
        f"ssh -N -L {port}:{local}:{port} {user}@{machine}\n"
        f"  then open http://127.0.0.1:{port}/ in a browser on that machine"
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def allowed_origins(host: str, port: int) -> set[str]:
    """The origins whose pages may open a console: this server's own address."""
    names = {_url_host(host), "127.0.0.1", "localhost", "[::1]"}
    return {f"http://{name}:{port}" for name in names}


def _server(command: str, host: str, port: int) -> Any:
    from aiohttp import web
    from textual_serve.server import Server

    origins = allowed_origins(host, port)

    class OriginCheckedServer(Server):
        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            origin = request.headers.get("Origin")
            if origin is not None and origin not in origins:
                raise web.HTTPForbidden(text="websocket from another origin refused\n")
            return await super().handle_websocket(request)

    return OriginCheckedServer(
        command,
        host=host,
        port=port,
        title="marianne-tui",
        public_url=f"http://{_url_host(host)}:{port}",
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.getLogger("store").addHandler(logging.NullHandler())
    os.environ.setdefault("PGCONNECT_TIMEOUT", "10")
    if not args.public and not is_loopback(args.host):
        print(
            f"marianne-tui serve: {clean(args.host)} is not a loopback address and the "
            "console has no login; give --public to bind it anyway, or serve on 127.0.0.1 "
            "and use SSH (see --help)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        import textual_serve.server  # noqa: F401
    except ImportError:
        print(
            "marianne-tui serve: textual-serve is not installed: "
            "pip install 'marianne-tui[serve]'",
            file=sys.stderr,
        )
        return EXIT_FAILED

    target = store_target(args.db)
    # Said now, in one line, rather than by every visitor's console.
    try:
        open_store(target, read_only=True).close()
    except StoreError as error:
        print(f"marianne-tui serve: {clean(str(error), 2000)}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as error:
        print(
            f"marianne-tui serve: cannot open {clean(redact(target), 2000)}: "
            f"{type(error).__name__}: {clean(str(error), 2000)}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    os.environ[STORE_ENV_VARIABLE] = target

    mode = "read-write (--allow-writes)" if args.allow_writes else "read-only"
    address = f"http://{_url_host(args.host)}:{args.port}/"
    print(f"marianne-tui serve: {clean(redact(target), 2000)}, {mode}, on {address}")
    if args.public and not is_loopback(args.host):
        print(
            "marianne-tui serve: WARNING: bound to a public address with no authentication",
            file=sys.stderr,
        )
    print(f"From another machine, through SSH:\n  {ssh_recipe(args.host, args.port)}")
    sys.stdout.flush()
    command = app_command(
        allow_writes=args.allow_writes, refresh=args.refresh, operator=args.operator
    )
    server = _server(command, args.host, args.port)
    try:
        server.serve()
    except OSError as error:
        print(f"marianne-tui serve: cannot listen on {address}: {error}", file=sys.stderr)
        return EXIT_FAILED
    return 0
