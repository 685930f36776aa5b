"""``relaykit dev`` as a user edits the app: a save that breaks it (a syntax error, a missing
import) leaves the server up with a banner and the error printed once; the next save that
fixes it brings the jobs back; the login link stays the same throughout."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx2
import pytest
from tests.serving import free_port

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit

DB = ("--database", "sqlite:///relaykit.db")

APP = """\
from relaykit import Client

client = Client(id="devloop")


@client.define_job(id="hello", version="1.0.0")
async def hello(payload, io, ctx):
    return await io.run_task("greet", lambda: "hi")
"""

BANNER = "The app failed to load."


@contextmanager
def dev(rk: Relaykit, port: int) -> Iterator[subprocess.Popen[str]]:
    proc = rk.popen("dev", "app.py", "--port", str(port), *DB)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def banner_lines(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """The two lines (dashboard, login link) each start of ``relaykit dev`` prints."""
    assert proc.stdout is not None
    dashboard, link = proc.stdout.readline(), proc.stdout.readline()
    assert dashboard.startswith("relaykit: dashboard "), (dashboard, link)
    return dashboard, link


def save(path: Path, text: str) -> None:
    """Write ``text`` so the once-a-second watcher sees a new modification time."""
    before = path.stat().st_mtime if path.exists() else 0.0
    path.write_text(text, encoding="utf-8")
    while path.stat().st_mtime == before:  # a coarse file-system clock: write again
        time.sleep(0.05)
        path.write_text(text, encoding="utf-8")


def get(http: httpx2.Client, path: str, **headers: str) -> httpx2.Response:
    """GET ``path`` (redirects followed) once the (restarting) server listens again."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return http.get(path, headers=headers, follow_redirects=True)
        except httpx2.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def answers_until_banner(http: httpx2.Client) -> int:
    """GET /login over and over across a restart until the new process shows the banner;
    every request must be answered (the listening socket is handed to the new process, so
    none is refused). Returns how many requests were made."""
    deadline, count = time.monotonic() + 60, 0
    while time.monotonic() < deadline:
        try:
            page = http.get("/login", timeout=60)  # a refused connection fails the test
        except (httpx2.ReadError, httpx2.RemoteProtocolError):
            # a kept-alive connection the old process closed as it stopped: a browser sends
            # the request again, on a new connection (the new process answers it)
            continue
        count += 1
        assert page.status_code == 200, page.text
        if BANNER in page.text:
            return count
        time.sleep(0.02)
    raise AssertionError("relaykit dev never showed the load-error banner")


def job_ids(http: httpx2.Client, key: str) -> list[str]:
    r = get(http, "/api/v1/jobs", Authorization=f"Bearer {key}")
    assert r.status_code == 200, r.text
    return [j["id"] for j in r.json()["data"]]


@pytest.mark.slow
def test_dev_survives_a_broken_save_and_reloads_on_the_next(rk: Relaykit, tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP, encoding="utf-8")
    key = rk("keys", "create", *DB).stdout.strip()
    port = free_port()
    with dev(rk, port) as proc, httpx2.Client(base_url=f"http://127.0.0.1:{port}") as http:
        dashboard, link = banner_lines(proc)
        assert "one-time login link" in link
        assert job_ids(http, key) == ["hello"]

        # 1. a syntax error: the server answers, without jobs, and says why
        save(app, APP + "\n\ndef broken(:\n    pass\n")
        assert answers_until_banner(http) > 1  # it answered before, during and after
        assert banner_lines(proc) == (dashboard, link)  # restarted; the same login link
        assert job_ids(http, key) == []
        login_page = get(http, "/login").text
        assert BANNER in login_page
        assert "SyntaxError" not in login_page  # the detail is for logged-in users only

        # 2. still broken, differently: an import that fails; reloads again
        save(app, "import relaykit_no_such_module\n" + APP)
        assert banner_lines(proc) == (dashboard, link)
        token = re.search(r"token=(\S+)", link)
        assert token is not None
        logged_in = get(http, f"/login/link?token={token.group(1)}")
        assert logged_in.status_code == 200, logged_in.text
        assert BANNER in logged_in.text
        assert f"{app}:1: ModuleNotFoundError: No module named" in logged_in.text
        assert "import relaykit_no_such_module" in logged_in.text

        # 3. fixed: the jobs are back, the banner is gone, the session survived the reloads
        save(app, APP)
        banner_lines(proc)
        assert job_ids(http, key) == ["hello"]
        jobs_page = get(http, "/jobs")
        assert jobs_page.status_code == 200 and "hello" in jobs_page.text
        assert BANNER not in jobs_page.text
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    # each failure is one block: what failed, then file:line, the error and the source line
    assert err.count("relaykit: APP app.py failed to load") == 2, err
    syntax = re.search(r"  (\S+):(\d+): SyntaxError: (.+)\n      def broken\(:\n", err)
    assert syntax is not None, err
    assert syntax.group(1) == str(app) and int(syntax.group(2)) == APP.count("\n") + 3
    assert f"  {app}:1: ModuleNotFoundError: No module named 'relaykit_no_such_module'\n" in err
    assert "Traceback" not in err


def test_dev_refuses_a_wrong_app_path_in_one_line(rk: Relaykit) -> None:
    done = rk("dev", "no_such_app.py", "--port", "1", *DB)
    assert done.error_line() == (
        "relaykit: error: APP file 'no_such_app.py' does not exist; pass a path to a .py file"
    )
