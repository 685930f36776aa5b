"""``relaykit dev``'s reload: watch the app's Python files and restart the process on a change.

Polling modification times once a second needs no extra dependency and works on every file
system (network and container mounts included); an app folder holds few enough files for it
to cost nothing. The restart re-executes the same command, so the new code is imported fresh;
what the new process must keep (the login link's token, so the printed link stays the same,
and the database URL, for when the new code fails to load) rides along in
``RELAYKIT_DEV_STATE``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final, NoReturn

#: What a restarted ``relaykit dev`` keeps, as JSON; read and removed from the environment at
#: start, so neither the app's code nor the subprocesses it starts ever see it.
STATE_ENV: Final = "RELAYKIT_DEV_STATE"

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


@dataclass(frozen=True)
class DevState:
    """What one ``relaykit dev`` process hands the next: the login link's token, the database
    URL the app used, and the listening socket (an inherited file descriptor: connections made
    while the process restarts wait in its queue instead of being refused). ``restarted``:
    this process is such a next one."""

    login_token: str | None = None
    database_url: str | None = None
    listen_fd: int | None = None
    restarted: bool = False


def take_state() -> DevState:
    """The state the previous process left (a fresh start, or a malformed value: none)."""
    raw = os.environ.pop(STATE_ENV, None)
    if raw is None:
        return DevState()
    try:
        data = json.loads(raw)
        token, url, fd = data.get("login_token"), data.get("database_url"), data.get("listen_fd")
    except (ValueError, AttributeError):
        return DevState(restarted=True)
    return DevState(
        login_token=token if isinstance(token, str) else None,
        database_url=url if isinstance(url, str) else None,
        listen_fd=fd if isinstance(fd, int) and fd >= 0 else None,
        restarted=True,
    )


def restart(state: DevState) -> NoReturn:
    """Replace this process with the same ``relaykit`` command (fresh imports, same pid),
    handing it ``state`` (its ``listen_fd`` is made inheritable)."""
    if state.listen_fd is not None:
        os.set_inheritable(state.listen_fd, True)
    os.environ[STATE_ENV] = json.dumps({k: v for k, v in asdict(state).items() if k != "restarted"})
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "relaykit", *sys.argv[1:]])  # noqa: S606 -- our own command again
