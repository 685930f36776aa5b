"""``relaykit dev``'s reload: watch the app's Python files and restart the process on a change.

Polling modification times once a second needs no extra dependency and works on every file
system (network and container mounts included); an app folder holds few enough files for it
to cost nothing. The restart re-executes the same command, so the new code is imported fresh.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final, NoReturn

_SKIP: Final = frozenset({"__pycache__", "node_modules", "site-packages", "venv"})


def watched_root(app: str) -> Path:
    """The folder to watch: the APP file's folder, else the current directory (module APP)."""
    target = app.partition(":")[0]
    if target.endswith(".py") or "/" in target or Path(target).is_file():
        return Path(target).resolve().parent
    return Path.cwd()


def snapshot(root: Path) -> dict[Path, float]:
    """Modification times of the ``.py`` files under ``root`` (hidden and virtualenv folders
    skipped)."""
    found: dict[Path, float] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIP]
        for name in files:
            if name.endswith(".py"):
                path = Path(folder, name)
                try:
                    found[path] = path.stat().st_mtime
                except OSError:  # removed while walking: the next snapshot sees it gone
                    continue
    return found


async def watch(root: Path, on_change: Callable[[Path], None], interval: float = 1.0) -> None:
    """Call ``on_change`` with the first changed, added or removed file, then return."""
    before = snapshot(root)
    while True:
        await asyncio.sleep(interval)
        now = snapshot(root)
        if now != before:
            changed = sorted(p for p in before.keys() | now.keys() if before.get(p) != now.get(p))
            on_change(changed[0])
            return


def restart() -> NoReturn:
    """Replace this process with the same ``relaykit`` command (fresh imports, same pid)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "relaykit", *sys.argv[1:]])  # noqa: S606 -- our own command again
