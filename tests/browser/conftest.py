"""Browser tests: a real ``relaykit serve`` process (API, dashboard and worker) on a free port
and a real SQLite file, driven by real headless Chromium through Playwright.

Which Chromium, and how one is provisioned on a machine without one (once per session, under a
lock for pytest-xdist): ``tests/browser/chromium.py``.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from tests.browser.chromium import NoChromium, find_chromium
from tests.http_app import PASSWORD
from tests.serving import free_port

APP = str(Path(__file__).resolve().parents[1] / "http_app.py")


def _relaykit() -> str:
    exe = Path(sys.executable).with_name("relaykit")
    return str(exe) if exe.exists() else shutil.which("relaykit") or "relaykit"


@dataclass
class Server:
    """A running ``relaykit serve``: its base URL and the one-time login link it printed."""

    url: str
    login_link: str
    database: str


def _wait_for_port(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"relaykit serve exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"relaykit serve did not listen on port {port}")


@pytest.fixture
def served_app() -> str:
    """The APP ``server`` serves (a module may override it with its own app file)."""
    return APP


@contextlib.contextmanager
def serving(
    app: str, database: str, cwd: Path, env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, str]]:
    """``relaykit serve APP`` on a free port, in ``cwd`` (with ``env``, else this process's
    environment): its base URL and the one-time login link it printed; terminated after."""
    port = free_port()
    proc = subprocess.Popen(
        [_relaykit(), "serve", app, "--port", str(port), "--database", database],
        cwd=cwd,
        env=None if env is None else dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        link = re.search(r"one-time login link (\S+)", lines[1])
        assert link, lines
        _wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}", link.group(1)
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


@pytest.fixture
def server(tmp_path: Path, served_app: str) -> Iterator[Server]:
    """``relaykit serve APP`` (``tests/http_app.py`` unless ``served_app`` says otherwise) with
    a user ``ada`` made by ``relaykit users``."""
    database = f"sqlite:///{tmp_path / 'relaykit.db'}"
    made = subprocess.run(
        [_relaykit(), "users", "create", "ada", "--password-stdin", "--database", database],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    with serving(served_app, database, tmp_path) as (url, link):
        yield Server(url, link, database)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium executable, found (or installed) once per session; no Chromium fails the
    browser tests with one line saying how to get one."""
    try:
        return find_chromium()
    except NoChromium as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)  # outside the except: one line, not a chain


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    """Headless Chromium, for one module at a time: Playwright's sync API keeps an event loop
    running on this thread while it is open, and every other test module calls
    ``asyncio.run``, which refuses to start inside a running loop."""
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page."""
    context = browser.new_context()
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()
