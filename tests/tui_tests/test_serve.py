"""``marianne-tui serve``: loopback only, read-only by default, driven from a real browser.

The browser test runs Debian's headless Chromium through the DevTools protocol, on loopback
addresses only (every other host name resolves to nothing). It reads what xterm.js holds in
its screen buffer, which is what a visitor sees, and types into the page as a visitor does.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from marianne_tui import serve

aiohttp = pytest.importorskip("aiohttp", reason="textual-serve (and aiohttp) not installed")
pytest.importorskip("textual_serve", reason="textual-serve not installed")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    # Nothing but loopback: the page's web-font link must not leave the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--window-size=1280,900",
]

# Runs before the page's own script: keeps a handle on the xterm.js terminal it creates,
# which the page otherwise holds in a closure.
CAPTURE_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    window.__terminal = value;
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true});
  },
});
"""
SCREEN_TEXT = """
(() => {
  const t = window.__terminal;
  if (!t) return "";
  const lines = [];
  for (let i = 0; i < t.rows; i++) {
    const line = t.buffer.active.getLine(i);
    lines.push(line ? line.translateToString(true) : "");
  }
  return lines.join("\\n");
})()
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on the port (from /proc/net/tcp{,6})."""
    found: set[str] = set()
    for name in ("tcp", "tcp6"):
        table = Path("/proc/net") / name
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


@pytest.fixture
def served_store(small_fixture: Path) -> Iterator[tuple[str, Path, str]]:
    """`marianne-tui serve` on a copy of the small fixture, default options."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "marianne_tui", "serve", "--db", str(small_fixture),
         "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert server.stdout is not None
    banner = [server.stdout.readline(), server.stdout.readline(), server.stdout.readline()]
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None:
                pytest.fail(f"serve ended: {''.join(banner)}{server.stdout.read()}")
            time.sleep(0.1)
    try:
        yield url, small_fixture, "".join(banner)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


class DevTools:
    """The few DevTools protocol calls this test needs, over one page's websocket."""

    def __init__(self, websocket: Any) -> None:
        self.websocket = websocket
        self.next_id = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.websocket.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            message = await self.websocket.receive_json(timeout=30)
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    async def screen(self) -> str:
        result = await self.call("Runtime.evaluate", expression=SCREEN_TEXT, returnByValue=True)
        return str(result["result"].get("value", ""))

    async def wait_for(self, text: str, seconds: float = 40) -> str:
        deadline = time.monotonic() + seconds
        screen = ""
        while time.monotonic() < deadline:
            screen = await self.screen()
            if text in screen:
                return screen
            await asyncio.sleep(0.25)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")

    async def press(self, key: str) -> None:
        code = f"Key{key.upper()}"
        await self.call("Input.dispatchKeyEvent", type="keyDown", key=key, code=code,
                        text=key, windowsVirtualKeyCode=ord(key.upper()))
        await self.call("Input.dispatchKeyEvent", type="keyUp", key=key, code=code,
                        windowsVirtualKeyCode=ord(key.upper()))


def _start_chromium(profile: Path) -> tuple[subprocess.Popen[bytes], int]:
    assert CHROMIUM is not None
    browser = subprocess.Popen(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return browser, int(port_file.read_text().split()[0])
        if browser.poll() is not None:
            pytest.fail(f"chromium ended with status {browser.returncode}")
        time.sleep(0.1)
    os.killpg(browser.pid, signal.SIGKILL)
    pytest.fail("chromium did not open its DevTools port")


async def _visit(url: str, devtools_port: int) -> tuple[str, str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{devtools_port}/json/list") as response:
            targets = json.loads(await response.text())
        page = next(target for target in targets if target["type"] == "page")
        async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            tools = DevTools(ws)
            await tools.call("Page.enable")
            await tools.call("Page.addScriptToEvaluateOnNewDocument", source=CAPTURE_TERMINAL)
            # A headless page has no window focus of its own; xterm.js reads keys only
            # from a focused textarea.
            await tools.call("Emulation.setFocusEmulationEnabled", enabled=True)
            await tools.call("Page.navigate", url=url)
            first = await tools.wait_for("shown of 200")
            await tools.call("Runtime.evaluate", expression="window.__terminal.focus()")
            await tools.press("v")  # validate: a mutating key
            # Not just "read-only": the header's banner says that from the start.
            refused = await tools.wait_for("triage keys are disabled")
            return first, refused


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_a_browser_sees_patterns_and_a_mutating_key_is_refused(
    served_store: tuple[str, Path, str], tmp_path: Path
) -> None:
    url, store_file, banner = served_store
    before = _sha256(store_file)
    browser, devtools_port = _start_chromium(tmp_path / "chromium-profile")
    try:
        first, refused = asyncio.run(_visit(url, devtools_port))
    finally:
        os.killpg(browser.pid, signal.SIGKILL)
        browser.wait()
    # The Patterns screen: its filter line, its columns, the first rows of the store.
    lines = first.splitlines()
    assert "200 patterns:" in first and "READ-ONLY" in lines[0]
    assert any(line.split()[:4] == ["status", "trust", "eff", "prio▼"] for line in lines)
    assert sum("validated" in line or "pending" in line for line in lines) > 5
    assert "read-only" in refused and "triage keys are disabled" in refused
    assert "read-only" in banner
    assert _sha256(store_file) == before


def test_serve_listens_on_loopback_only_and_prints_an_ssh_recipe(
    served_store: tuple[str, Path, str],
) -> None:
    url, _store_file, banner = served_store
    port = int(url.rsplit(":", 1)[1].strip("/"))
    addresses = _listening_addresses(port)
    if not addresses:
        pytest.skip("/proc/net/tcp is not readable here")
    assert addresses == {"0100007F"}  # 127.0.0.1, nothing else
    assert "read-only" in banner
    assert f"ssh -N -L {port}:127.0.0.1:{port} " in banner


def test_a_websocket_from_another_origin_is_refused(
    served_store: tuple[str, Path, str],
) -> None:
    url, _store_file, _banner = served_store

    async def status(origin: str) -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(f"{url}ws", headers={"Origin": origin}) as ws:
                    await ws.close()
                    return 101
            except aiohttp.WSServerHandshakeError as error:
                return int(error.status)

    assert asyncio.run(status("http://evil.example")) == 403
    assert asyncio.run(status(url.rstrip("/"))) == 101


def test_a_public_address_needs_public(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve.main(["--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--public" in err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("no-such-host.invalid", False)],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert serve.is_loopback(host) is loopback


def test_each_visitor_gets_a_read_only_console_unless_writes_are_allowed() -> None:
    assert serve.app_command(allow_writes=False, refresh=2).endswith(
        "-m marianne_tui --refresh 2 --no-mouse --read-only"
    )
    assert "--read-only" not in serve.app_command(allow_writes=True, refresh=2)
    quoted = serve.app_command(allow_writes=True, refresh=2, operator="night shift; rm -rf /")
    assert quoted.endswith("--operator 'night shift; rm -rf /'")  # one shell word


def test_a_store_that_cannot_open_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert serve.main(["--db", str(tmp_path / "missing.db")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
