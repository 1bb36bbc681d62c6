"""Placeholder entry point until the console lands (see the console issue)."""

from __future__ import annotations


def main() -> int:
    print("marianne-tui: the console is not built yet")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
