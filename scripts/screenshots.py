"""Write screenshots/<name>.svg of every screen and dialog, from the demo store.

    python scripts/screenshots.py            # 120x40, into screenshots/
    python scripts/screenshots.py --size 80x24 --out /tmp/shots

The demo store is built with a fixed clock and seed (marianne_tui.demo), and the console
runs headless with polling off, so the same code gives the same pictures. Run it whenever a
screen changes. To add a shot, add one line to SHOTS: a file name, the screen's key and the
keys to press there.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from marianne_tui.app import MarianneApp  # noqa: E402
from marianne_tui.demo import build_demo_store, demo_clock  # noqa: E402
from store import GlobalLearningStore  # noqa: E402


@dataclass(frozen=True)
class Shot:
    name: str
    #: the screen's number key: 1 patterns, 2 drift, 3 budget, 4 escalations, 5 rate limits,
    #: 6 events, 7 journal
    screen: str
    #: keys pressed on that screen before the picture (opens a dialog, moves the cursor...)
    press: tuple[str, ...] = ()


SHOTS = (
    Shot("patterns", "1"),
    Shot("drift", "2"),
    Shot("budget", "3"),
    Shot("escalations", "4"),
    Shot("rate_limits", "5"),
    Shot("pattern_detail", "1", ("enter",)),
    Shot("confirm_validate", "1", ("v",)),
    Shot("quarantine_reason", "1", ("q",)),
    Shot("retire_preview", "2", ("r",)),
    Shot("escalation_outcome", "4", ("o",)),
    Shot("help", "1", ("question_mark",)),
    Shot("command_line", "1", ("colon",)),
    Shot("command_line_completion", "1", ("colon", "s", "o", "r", "t", "space", "t")),
    Shot("events", "6"),
    Shot("marks", "1", ("m", "shift+down", "shift+down", "down", "m")),
    Shot("bulk_validate", "1", ("m", "shift+down", "shift+down", "v")),
    # Last: it writes to the demo store (a validate, then its journal row), which every
    # shot shares.
    Shot("journal", "1", ("down", "down", "v", "y", "7")),
)


async def take(store_path: Path, shot: Shot, out: Path, size: tuple[int, int]) -> Path:
    store = GlobalLearningStore(store_path, create=False, clock=demo_clock())
    # The journal shows who acted and from where: fixed, so the picture is the same anywhere.
    store.operator, store.operator_host = "ops", "console-host"
    try:
        app = MarianneApp(store, poll=False)
        async with app.run_test(size=size) as pilot:
            await pilot.press(shot.screen)
            await pilot.pause()
            for key in shot.press:
                await pilot.press(key)
                await pilot.pause()
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            return Path(app.save_screenshot(filename=f"{shot.name}.svg", path=str(out)))
    finally:
        store.close()


async def run(out: Path, size: tuple[int, int], only: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    # A fixed folder, not a random one: the header shows the store's path, and the pictures
    # must not change from one run to the next.
    folder = Path(tempfile.gettempdir()) / "marianne-tui-screenshots"
    shutil.rmtree(folder, ignore_errors=True)
    store_path = build_demo_store(folder / "demo.db", clock=demo_clock(), seed=0)
    try:
        for shot in SHOTS:
            if only and shot.name not in only:
                continue
            written = await take(store_path, shot, out, size)
            print(written.relative_to(REPO) if written.is_relative_to(REPO) else written)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "screenshots")
    parser.add_argument("--size", default="120x40", help="COLUMNSxROWS (default 120x40)")
    parser.add_argument("only", nargs="*", help="shot names to take (default: all)")
    args = parser.parse_args()
    columns, rows = (int(n) for n in args.size.lower().split("x"))
    asyncio.run(run(args.out, (columns, rows), args.only))


if __name__ == "__main__":
    main()
