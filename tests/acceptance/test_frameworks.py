"""``client.lifespan`` in real web apps: the examples in ``examples/frameworks/`` (FastAPI,
Starlette, Django over ASGI) and an app with a slow job, each served by a real uvicorn process
on loopback, stopped with SIGTERM as a deployment stops it.

Every task appends a line to a file, so each test counts what really ran.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from tests.serving import free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "frameworks"

pytestmark = pytest.mark.slow

#: A FastAPI app whose job is slow in its second task until a ``fast`` file exists; the
#: lifespan's options come from the environment so one file serves every test.
SLOW_APP = """
import asyncio
import functools
import os
from pathlib import Path

from fastapi import FastAPI

from relaykit import Client

client = Client(id="slow-app")


def note(what: str) -> None:
    with Path("side-effects.log").open("a", encoding="utf-8") as f:
        f.write(what + "\\n")


async def first() -> str:
    note("first")
    return "done"


async def slow() -> str:
    note("slow started")
    while not Path("fast").exists():
        await asyncio.sleep(0.05)
    note("slow finished")
    return "done"


@client.define_job(id="two-steps", version="1.0.0")
async def two_steps(payload, io, ctx):
    await io.run_task("first", first)
    return await io.run_task("slow", slow)


app = FastAPI(
    lifespan=functools.partial(
        client.lifespan,
        worker=os.environ.get("APP_WORKER", "1") == "1",
        grace_seconds=float(os.environ.get("APP_GRACE", "0.3")),
    )
)


@app.post("/runs")
async def enqueue() -> dict[str, str]:
    return {"run": await client.enqueue("two-steps")}


@app.get("/runs/{run_id}")
async def status(run_id: str) -> dict[str, str]:
    return {"status": (await client.get_run(run_id)).status}
"""


@contextmanager
def uvicorn(app: str, cwd: Path, *, app_dir: Path, env: dict[str, str]) -> Iterator[str]:
    """Serve ``app`` (``module:attribute``) with ``python -m uvicorn`` until the block ends,
    then stop it with SIGTERM and check it shut down cleanly (its lifespan complete)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, "--app-dir", str(app_dir), "--port", str(port)],
        cwd=cwd,
        env={**os.environ, "RELAYKIT_DATABASE_URL": "sqlite:///relaykit.db", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx2.get(f"{base}/openapi.json", timeout=1)
                break
            except httpx2.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.communicate(timeout=10)[0] if proc.poll() is not None else ""
                    raise AssertionError(f"uvicorn {app} did not start:\n{out}") from None
                time.sleep(0.05)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    # uvicorn re-raises the signal once it has shut down (default action: killed by SIGTERM)
    assert proc.returncode in (0, -signal.SIGTERM), out
    assert "Application startup complete." in out, out
    assert "Application shutdown complete." in out, out
    assert "Traceback" not in out, out


def wait_for(base: str, path: str, status: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = httpx2.get(f"{base}{path}", timeout=5).json()
        if body["status"] == status or time.monotonic() > deadline:
            assert body["status"] == status, f"{path}: {body}"
            return body
        time.sleep(0.05)


def side_effects(cwd: Path) -> list[str]:
    log = cwd / "side-effects.log"
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def run_row(cwd: Path, run_id: str) -> tuple[str, str | None]:
    """The run's status and lease owner, as stored."""
    with closing(sqlite3.connect(cwd / "relaykit.db")) as db:
        row = db.execute("SELECT status, lease_owner FROM runs WHERE id = ?", (run_id,)).fetchone()
    return row[0], row[1]


@pytest.mark.parametrize("module", ["fastapi_app", "starlette_app", "django_app"])
def test_a_request_enqueues_and_the_in_process_worker_runs_it(module: str, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.txt"
    emails = [f"user{i}@example.com" for i in range(3)]
    with uvicorn(
        f"{module}:app", tmp_path, app_dir=EXAMPLES, env={"SIGNUPS_OUTBOX": str(outbox)}
    ) as base:
        runs = []
        for email in emails:
            answer = httpx2.post(f"{base}/signups", json={"email": email}, timeout=10)
            assert answer.status_code == 202, answer.text
            runs.append(answer.json()["run"])
        for run_id, email in zip(runs, emails, strict=True):
            done = wait_for(base, f"/signups/{run_id}", "succeeded")
            assert done["output"] == f"sent to {email}"
        missing = httpx2.get(f"{base}/signups/run_nope", timeout=5)
        assert missing.status_code == 404
        # the dashboard is mounted beside the app's own routes
        assert httpx2.get(f"{base}/relaykit/login", timeout=5).status_code == 200
    sent = outbox.read_text(encoding="utf-8").splitlines()
    assert sorted(sent) == sorted(f"{e}\tWelcome aboard, {e}!" for e in emails)  # once each


def test_shutdown_hands_a_run_in_flight_back_and_the_next_process_finishes_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "slow_app.py").write_text(SLOW_APP, encoding="utf-8")
    with uvicorn("slow_app:app", tmp_path, app_dir=tmp_path, env={}) as base:
        run_id = httpx2.post(f"{base}/runs", timeout=10).json()["run"]
        deadline = time.monotonic() + 30
        while "slow started" not in side_effects(tmp_path):
            assert time.monotonic() < deadline, side_effects(tmp_path)
            time.sleep(0.05)
        # the app keeps answering while the run is in flight on its loop
        assert wait_for(base, f"/runs/{run_id}", "running")["status"] == "running"
    # SIGTERM with a run in flight: handed back (runnable, no lease), not failed
    assert run_row(tmp_path, run_id) == ("waiting", None)
    (tmp_path / "fast").touch()
    with uvicorn("slow_app:app", tmp_path, app_dir=tmp_path, env={}) as base:
        wait_for(base, f"/runs/{run_id}", "succeeded")
    # "first" completed before the shutdown and is replayed from its record, never re-run;
    # "slow" never completed, so it runs again, to completion exactly once
    assert side_effects(tmp_path) == ["first", "slow started", "slow started", "slow finished"]


def test_worker_false_serves_the_api_only_and_a_worker_elsewhere_runs_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "slow_app.py").write_text(SLOW_APP, encoding="utf-8")
    (tmp_path / "fast").touch()
    with uvicorn("slow_app:app", tmp_path, app_dir=tmp_path, env={"APP_WORKER": "0"}) as base:
        run_id = httpx2.post(f"{base}/runs", timeout=10).json()["run"]
        time.sleep(1.5)  # longer than a poll interval: nobody in this process claims it
        assert httpx2.get(f"{base}/runs/{run_id}", timeout=5).json()["status"] == "queued"
        worker = subprocess.run(
            [
                sys.executable,
                "-m",
                "relaykit",
                "worker",
                "slow_app.py",
                "--exit-when-idle",
                "--database",
                "sqlite:///relaykit.db",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert worker.returncode == 0, worker.stderr
        assert wait_for(base, f"/runs/{run_id}", "succeeded")["status"] == "succeeded"
    assert side_effects(tmp_path) == ["first", "slow started", "slow finished"]
