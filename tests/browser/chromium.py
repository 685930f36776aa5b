"""Which Chromium the browser tests drive, provisioned once when the machine has none.

In this order, the first that gives an executable:

1. ``$RELAYKIT_TEST_CHROMIUM`` (a Chromium or Chrome executable; it must exist);
2. a system Chromium: ``/usr/bin/chromium``, or ``chromium`` / ``chromium-browser`` on ``PATH``;
3. Playwright's managed Chromium, if installed, else after ``python -m playwright install
   chromium`` (which fails quickly where Playwright's download host is out of reach);
4. as root where ``apt-get`` exists: Debian's ``chromium`` package (``apt-get install -y
   chromium``), then ``/usr/bin/chromium``;
5. else ``NoChromium``, one line saying how to get one.

Steps 3 and 4 change the machine, so they run under an exclusive lock on a file in the temporary
directory: pytest-xdist workers (and concurrent sessions) provision at most once, and those that
waited find the browser the first one installed.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

ENV_VAR: Final = "RELAYKIT_TEST_CHROMIUM"
SYSTEM: Final = "/usr/bin/chromium"
LOCK: Final = Path(tempfile.gettempdir()) / "relaykit-test-chromium.lock"
HOW: Final = (
    f"no Chromium for the browser tests: set {ENV_VAR} to a Chromium or Chrome executable, "
    "install your system's chromium package (Debian/Ubuntu: `sudo apt-get install chromium`), "
    "or run `python -m playwright install chromium`"
)


class NoChromium(RuntimeError):
    """No Chromium could be found or installed."""


def system_chromium() -> str | None:
    """A Chromium installed on the system, if any."""
    if os.access(SYSTEM, os.X_OK):
        return SYSTEM
    return shutil.which("chromium") or shutil.which("chromium-browser")


def managed_chromium() -> str | None:
    """Playwright's own Chromium, if it is installed (``python -m playwright install``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        path = p.chromium.executable_path
    return path if os.access(path, os.X_OK) else None


def _run(*args: str, timeout: float) -> bool:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def install_managed() -> str | None:
    """``python -m playwright install chromium``; the managed Chromium if that worked."""
    if not _run(sys.executable, "-m", "playwright", "install", "chromium", timeout=600):
        return None
    return managed_chromium()


def install_system_package() -> str | None:
    """As root with apt-get: Debian's ``chromium`` package; ``/usr/bin/chromium`` if that
    worked."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    if not _run("apt-get", "update", "-qq", timeout=600):
        return None
    if not _run("apt-get", "install", "-y", "-qq", "chromium", timeout=1200):
        return None
    return system_chromium()


@contextmanager
def _machine_lock() -> Iterator[None]:
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def find_chromium(
    installers: tuple[Callable[[], str | None], ...] = (install_managed, install_system_package),
) -> str:
    """The Chromium executable to drive; raise ``NoChromium`` (one line) if there is none."""
    given = os.environ.get(ENV_VAR)
    if given:
        if not os.access(given, os.X_OK):
            raise NoChromium(f"{ENV_VAR}={given} is not an executable file")
        return given
    found = system_chromium() or managed_chromium()
    if found:
        return found
    with _machine_lock():
        # Another worker or session may have installed one while this one waited.
        found = system_chromium() or managed_chromium()
        for install in installers:
            if found:
                break
            found = install()
    if not found:
        raise NoChromium(HOW)
    return found
