"""Endpoint mode end to end, each side in its own process: the user's app
(tests/acceptance/endpoint_app.py, ``client.endpoint()``) under uvicorn on loopback, and the
installed ``relaykit serve --endpoint URL`` driving its runs from a real SQLite file. The test
sends events through a ``Client`` holding the endpoint's described jobs and reads the runs
back from that file; side effects and execute requests are counted in files the app writes.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from relaykit import Client, Job, RunResult
from relaykit.engine.remote import RemoteEndpoint

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SECRET = "acceptance-endpoint-secret-0123456789abcdef"
RELAYKIT = Path(sys.executable).parent / "relaykit"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_listening(port: int, proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}")


class Endpoint:
    """The user's app under uvicorn; ``kill()`` is SIGKILL, ``start()`` (re)starts it."""

    def __init__(self, tmp: Path, max_seconds: float) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.effects = tmp / "effects.log"
        self.requests = tmp / "requests.log"
        self.env = {
            **os.environ,
            "RELAYKIT_ENDPOINT_SECRET": SECRET,
            "EFFECTS_FILE": str(self.effects),
            "REQUESTS_FILE": str(self.requests),
            "ENDPOINT_MAX_SECONDS": str(max_seconds),
        }
        self.proc: subprocess.Popen[str] | None = None

    def start(self, **env: str) -> None:
        self.env.update(env)
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "tests.acceptance.endpoint_app:app"),
                *("--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"),
            ],
            cwd=ROOT,
            env=self.env,
            text=True,
        )
        _wait_listening(self.port, self.proc, "the endpoint app")

    def restart(self, **env: str) -> None:
        self.stop()
        self.start(**env)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def lines(self) -> list[str]:
        return self.effects.read_text().splitlines() if self.effects.exists() else []

    def requests_for(self, run_id: str) -> int:
        if not self.requests.exists():
            return 0
        return self.requests.read_text().splitlines().count(run_id)


class Relay:
    """``relaykit serve --endpoint URL`` in its own process, and a client on its database."""

    def __init__(self, tmp: Path, endpoint: Endpoint) -> None:
        self.db = f"sqlite:///{tmp / 'relay.db'}"
        self.endpoint = endpoint
        self.log = tmp / "relaykit.log"
        port = _free_port()
        env = {**os.environ, "RELAYKIT_ENDPOINT_SECRET": SECRET}
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [
                    *(str(RELAYKIT), "serve", "--endpoint", endpoint.url),
                    *("--port", str(port), "--database", self.db),
                ],
                cwd=tmp,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        _wait_listening(port, self.proc, "relaykit serve --endpoint")
        self.described = asyncio.run(self._describe())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)

    async def _describe(self) -> tuple[str, list[Job]]:
        """The endpoint's jobs as relaykit serve registered them (at the same moment)."""
        remote = RemoteEndpoint(self.endpoint.url, secret=SECRET)
        try:
            return await remote.describe()
        finally:
            await remote.aclose()

    def send(self, name: str, payload: Any) -> str:
        """Send an event with the jobs relaykit serve registered, as its API would."""

        async def go() -> str:
            client_id, jobs = self.described
            async with Client(id=client_id, database_url=self.db) as client:
                client.add_remote_jobs(jobs)
                sent = await client.send_event(name, payload)
            (run_id,) = sent["runs"]
            return str(run_id)

        return asyncio.run(go())

    def wait(self, run_id: str, timeout: float = 60) -> RunResult:
        async def go() -> RunResult:
            async with Client(id="reader", database_url=self.db) as client:
                deadline = time.monotonic() + timeout
                while True:
                    run = await client.get_run(run_id)
                    if run.status in {"succeeded", "failed"} or time.monotonic() > deadline:
                        return run
                    await asyncio.sleep(0.1)

        return asyncio.run(go())


@pytest.fixture
def endpoint(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Endpoint]:
    marker = request.node.get_closest_marker("max_seconds")
    app = Endpoint(tmp_path, max_seconds=marker.args[0] if marker else 60.0)
    app.start()
    yield app
    app.stop()


@pytest.fixture
def relay(tmp_path: Path, endpoint: Endpoint) -> Iterator[Relay]:
    relay = Relay(tmp_path, endpoint)
    yield relay
    relay.stop()


def test_a_job_with_tasks_a_retry_and_a_wait_completes(endpoint: Endpoint, relay: Relay) -> None:
    run_id = relay.send("order", {"order": "A-1"})
    run = relay.wait(run_id)
    assert run.status == "succeeded", (run.error, relay.log.read_text())
    assert run.output == {"tasks": ["charge", "answered", "email"]}
    assert collections.Counter(endpoint.lines()) == {
        "begin charge": 1,
        "end charge": 1,
        "begin reserve attempt 1": 1,
        "begin reserve attempt 2": 1,
        "begin reserve attempt 3": 1,
        "end reserve": 1,
        "begin email": 1,
        "end email": 1,
    }
    # one request per attempt: the first ends at reserve's retry delay, the second at its
    # next one, the third at the wait, the fourth finishes
    assert endpoint.requests_for(run_id) == 4
    assert [log.message for log in run.logs] == ["order received"]
    assert run.task("reserve").attempts == 3


def test_a_run_of_inline_tasks_costs_one_request(endpoint: Endpoint, relay: Relay) -> None:
    run_id = relay.send("steps", {"n": 20})
    run = relay.wait(run_id)
    assert run.status == "succeeded", (run.error, relay.log.read_text())
    assert run.output == {"done": 20}
    assert len(run.tasks) == 20
    assert endpoint.requests_for(run_id) == 1


def test_the_endpoint_killed_mid_run_resumes_without_rerunning_finished_tasks(
    endpoint: Endpoint, relay: Relay
) -> None:
    run_id = relay.send("steps", {"n": 6, "seconds": 0.4})
    deadline = time.monotonic() + 30
    while "begin step-2" not in endpoint.lines():
        assert time.monotonic() < deadline, endpoint.lines()
        time.sleep(0.02)
    endpoint.kill()  # during step-2's sleep, unless the machine is slow: see `in_flight`
    killed_at = endpoint.lines()
    # what the dead process had begun and not finished (step-2, or the one after it on a
    # loaded machine): the only task that may run again, as with a worker killed mid-task
    in_flight = {line[6:] for line in killed_at if line.startswith("begin ")} - {
        line[4:] for line in killed_at if line.startswith("end ")
    }
    assert len(in_flight) <= 1 and "end step-5" not in killed_at, killed_at
    time.sleep(1.0)  # relaykit finds nobody listening meanwhile, and backs off
    endpoint.start()
    run = relay.wait(run_id)
    assert run.status == "succeeded", (run.error, relay.log.read_text())
    counts = collections.Counter(endpoint.lines())
    for i in range(6):
        key = f"step-{i}"
        assert counts[f"end {key}"] == 1, counts
        # finished tasks (committed as they finished) did not run again
        assert counts[f"begin {key}"] == (2 if key in in_flight else 1), (key, counts)
    assert endpoint.requests_for(run_id) >= 2
    assert "tried again" in relay.log.read_text()


@pytest.mark.max_seconds(1.0)
def test_a_budget_shorter_than_the_run_yields_and_resumes(endpoint: Endpoint, relay: Relay) -> None:
    run_id = relay.send("steps", {"n": 6, "seconds": 0.4})
    run = relay.wait(run_id)
    assert run.status == "succeeded", (run.error, relay.log.read_text())
    counts = collections.Counter(endpoint.lines())
    assert all(counts[f"begin step-{i}"] == counts[f"end step-{i}"] == 1 for i in range(6))
    # 1s of budget holds three 0.4s tasks (the third starts at 0.8s): two requests, or
    # three on a machine so loaded that a task's overhead passes 0.1s
    assert endpoint.requests_for(run_id) in (2, 3)


def test_an_old_deploy_refuses_a_run_of_a_newer_version_until_the_new_one_answers(
    tmp_path: Path,
) -> None:
    endpoint = Endpoint(tmp_path, max_seconds=60.0)
    endpoint.start(STEPS_VERSION="2.0.0")
    relay = Relay(tmp_path, endpoint)  # registers steps 2.0.0
    try:
        endpoint.restart(STEPS_VERSION="1.0.0")  # an old deploy answers at the same address
        run_id = relay.send("steps", {"n": 2})
        deadline = time.monotonic() + 30
        while "newer than this deploy's 1.0.0" not in relay.log.read_text():
            assert time.monotonic() < deadline, relay.log.read_text()
            time.sleep(0.1)
        assert relay.wait(run_id, timeout=0).status == "waiting"
        assert endpoint.lines() == [], "the old deploy ran nothing"
        endpoint.restart(STEPS_VERSION="2.0.0")
        run = relay.wait(run_id)
    finally:
        relay.stop()
        endpoint.stop()
    assert run.status == "succeeded", (run.error, relay.log.read_text())
    assert collections.Counter(endpoint.lines()) == {
        "begin step-0": 1,
        "end step-0": 1,
        "begin step-1": 1,
        "end step-1": 1,
    }


def test_unsigned_and_badly_signed_requests_are_refused_and_run_nothing(
    endpoint: Endpoint,
) -> None:
    body = (
        b'{"protocol":1,"action":"execute","run":{"id":"run_forged","job_id":"steps",'
        b'"job_version":"1.0.0","status":"running","payload":"{\\"n\\":3}","created_at":1}}'
    )
    forged = {"x-relaykit-timestamp": str(int(time.time())), "x-relaykit-signature": "v1=00"}
    stale = {"x-relaykit-timestamp": "1000", "x-relaykit-signature": "v1=00"}
    with httpx2.Client() as http:
        answers = [
            http.post(endpoint.url, content=body, headers=headers)
            for headers in ({}, forged, stale)
        ]
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert "not signed" in answers[0].json()["error"]
    assert "does not match" in answers[1].json()["error"]
    assert "timestamp" in answers[2].json()["error"]
    assert SECRET not in " ".join(a.text for a in answers)
    assert endpoint.lines() == [], "nothing was executed"


def test_serve_endpoint_bad_input_is_one_line(tmp_path: Path, endpoint: Endpoint) -> None:
    """Missing APP and URL, both at once, no secret, a wrong secret, nobody listening."""
    nobody = f"http://127.0.0.1:{_free_port()}/"

    def serve(*args: str, secret: str | None = SECRET) -> str:
        env = {k: v for k, v in os.environ.items() if k != "RELAYKIT_ENDPOINT_SECRET"}
        if secret is not None:
            env["RELAYKIT_ENDPOINT_SECRET"] = secret
        done = subprocess.run(
            [str(RELAYKIT), "serve", *args, "--port", str(_free_port())],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        return lines[0]

    assert "missing APP" in serve()
    assert "not both" in serve("app.py", "--endpoint", endpoint.url)
    assert "RELAYKIT_ENDPOINT_SECRET is not set" in serve("--endpoint", endpoint.url, secret=None)
    wrong = serve("--endpoint", endpoint.url, secret="not-the-endpoints-secret-at-all")
    assert "401" in wrong and "not-the-endpoints-secret" not in wrong
    assert "cannot be reached" in serve("--endpoint", nobody)
    assert not (tmp_path / ".relaykit").exists(), "nothing was created"


def test_an_app_file_with_client_endpoints_works_with_send_and_worker(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    """``Client(endpoints=[URL])`` in an APP file: ``relaykit send`` routes the event to the
    endpoint's job, ``relaykit worker --exit-when-idle`` drives the run there."""
    (tmp_path / "ops.py").write_text(
        "import os\nfrom relaykit import Client\n\n"
        'client = Client(id="ops", endpoints=[os.environ["SHOP_URL"]])\n'
    )
    env = {**os.environ, "RELAYKIT_ENDPOINT_SECRET": SECRET, "SHOP_URL": endpoint.url}

    def rk(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(RELAYKIT), *args, "--database", "sqlite:///relay.db"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    sent = rk("send", "ops.py", "steps", "--payload", '{"n": 3}', "--json")
    assert sent.returncode == 0, sent.stderr
    (run_id,) = json.loads(sent.stdout)["runs"]
    worked = rk("worker", "ops.py", "--exit-when-idle")
    assert worked.returncode == 0, worked.stderr
    shown = rk("runs", "show", run_id, "--json")
    assert json.loads(shown.stdout)["status"] == "succeeded", shown.stdout
    assert endpoint.lines() == [f"{edge} step-{i}" for i in range(3) for edge in ("begin", "end")]
    assert endpoint.requests_for(run_id) == 1
