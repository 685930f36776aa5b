"""Acceptance tests of the ``relaykit`` command as a user drives it.

Every test drives the ``relaykit`` command with the test's ``tmp_path`` as the current
directory and a real SQLite file in it (or the session's PostgreSQL database). ``rk(...)`` runs
the command in this interpreter by default (``tests/acceptance/inprocess.py``: click's
``CliRunner`` with the environment, directory, ``sys.path``, modules and streams a fresh process
would have), which saves about a second per call. A test marked ``@pytest.mark.subprocess``
runs every ``rk(...)`` through the *installed* ``relaykit`` script (the one beside this
interpreter) in a real subprocess instead; ``rk.popen`` and ``rk.python_module`` always start
one. ``RELAYKIT_TEST_CLI=subprocess`` makes every test use subprocesses (the whole acceptance
suite as it ran before the in-process runner, to check the two agree).

The helpers here are reached through fixtures (``rk``, ``app``); test modules import the types
only for annotations, so pytest's conftest loading stays the only runtime import.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
from tests.acceptance import inprocess
from tests.acceptance._shapes import check_component

from relaykit import Client
from relaykit.engine.resources import Run, RunDetail, Task

#: ``RELAYKIT_TEST_CLI=subprocess``: every ``rk(...)`` starts the installed script.
CLI_MODE_ENV = "RELAYKIT_TEST_CLI"

# The run and task objects every surface prints: the fields of the resources the OpenAPI
# document's components are generated from (``relaykit.engine.resources``).
RUN_KEYS = frozenset(RunDetail.model_fields)
LIST_RUN_KEYS = frozenset(Run.model_fields)
TASK_KEYS = frozenset(Task.model_fields)
ERROR_KEYS = frozenset({"type", "message", "task", "traceback"})
# The state names of DESIGN §3.
RUN_STATUSES = frozenset(
    {
        "queued",
        "running",
        "waiting",
        "succeeded",
        "failed",
        "canceled",
        "timed_out",
        "invalid_payload",
        "waiting_for_connection",
    }
)
TASK_STATUSES = frozenset({"running", "waiting", "completed", "errored", "canceled"})

DB_URL = "sqlite:///relaykit.db"
"""The relative database URL most tests use: ``relaykit.db`` in the test's directory."""
DB: tuple[str, str] = ("--database", DB_URL)

# One app file for the whole suite: each job exercises one part of the contract. Task
# functions append a line to ``side-effects.log`` (in the current directory) so tests can count
# how many times each one really ran.
APP_SOURCE = '''\
"""Jobs for the CLI acceptance tests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

import relaykit
from relaykit import Client, Context, NonRetriable, Retry, invoke_trigger

client = Client(id="acceptance")


def note(what: str) -> None:
    with Path("side-effects.log").open("a", encoding="utf-8") as f:
        f.write(what + "\\n")


async def double(x: int) -> int:
    note(f"double {x}")
    return x * 2


@client.define_job(id="pipeline", version="1.0.0")
async def pipeline(payload: Any, io: relaykit.IO, ctx: Context) -> dict[str, Any]:
    n = int(payload["n"])

    async def parent() -> int:
        return await io.run_task("child", double, n + 1) + 1

    await io.logger.info("pipeline started", n=n)
    first = await io.run_task("first", double, n)
    nested = await io.run_task("parent", parent)
    return {"first": first, "nested": nested}


@client.define_job(id="flaky", version="1.0.0")
async def flaky(payload: Any, io: relaykit.IO, ctx: Context) -> str:
    async def call_remote() -> str:
        attempt = relaykit.current_task().attempt
        note(f"call_remote {attempt}")
        if attempt < 3:
            raise ConnectionError(f"remote busy (attempt {attempt})")
        return "answered"

    retry = Retry(limit=5, min_timeout=0.05, factor=1.0, randomize=False)
    return str(await io.run_task("call-remote", call_remote, retry=retry))


@client.define_job(id="pause", version="1.0.0")
async def pause(payload: Any, io: relaykit.IO, ctx: Context) -> dict[str, int]:
    before = await io.run_task("before", double, 1)
    await io.wait("pause", seconds=float((payload or {}).get("seconds", 0.2)))
    after = await io.run_task("after", double, 2)
    return {"before": before, "after": after}


@client.define_job(id="explode", version="1.0.0")
async def explode(payload: Any, io: relaykit.IO, ctx: Context) -> None:
    def break_widget() -> None:
        note("break_widget")
        raise NonRetriable("the widget is broken")

    await io.run_task("break-widget", break_widget)


@client.define_job(id="chatty", version="1.0.0")
async def chatty(payload: Any, io: relaykit.IO, ctx: Context) -> str:
    def shout() -> str:
        print("a task printing to stdout")
        return "said"

    print("a run function printing to stdout")
    return str(await io.run_task("shout", shout))


@client.define_job(id="raises", version="1.0.0")
async def raises(payload: Any, io: relaykit.IO, ctx: Context) -> None:
    await io.run_task("fine", double, 1)
    raise LookupError("no such customer: 42")


class Order(BaseModel):
    sku: str
    qty: int = Field(gt=0)


@client.define_job(id="order", version="1.0.0", trigger=invoke_trigger(schema=Order))
async def order(payload: Order, io: relaykit.IO, ctx: Context) -> dict[str, Any]:
    total = await io.run_task("total", double, payload.qty)
    return {"sku": payload.sku, "total": total}


class Opaque:
    """Not JSON-serializable."""


@client.define_job(id="opaque-task", version="1.0.0")
async def opaque_task(payload: Any, io: relaykit.IO, ctx: Context) -> None:
    async def make_thing() -> object:
        return Opaque()

    await io.run_task("make-thing", make_thing)


@client.define_job(id="opaque-output", version="1.0.0")
async def opaque_output(payload: Any, io: relaykit.IO, ctx: Context) -> object:
    await io.run_task("fine", double, 1)
    return Opaque()


@client.define_job(id="nan-task", version="1.0.0")
async def nan_task(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
    async def measure() -> float:
        return float("nan")

    return await io.run_task("measure", measure)


@client.define_job(id="crashy", version="1.0.0")
async def crashy(payload: Any, io: relaykit.IO, ctx: Context) -> str:
    async def slow_once() -> str:
        marker = Path("slow-once.started")
        first = not marker.exists()
        note("slow_once")
        if first:  # the test kills the process during this sleep
            marker.write_text("started", encoding="utf-8")
            await asyncio.sleep(60)
        return "done"

    await io.run_task("before", double, 1)
    return str(await io.run_task("slow-once", slow_once))


@client.define_job(id="sleepy", version="1.0.0")
async def sleepy(payload: Any, io: relaykit.IO, ctx: Context) -> str:
    await io.wait("nap", hours=1)
    return "rested"


@client.define_job(id="sync-job", version="1.0.0")
def sync_job(payload: Any, io: Any, ctx: Context) -> dict[str, int]:
    def add(a: int, b: int) -> int:
        note(f"add {a} {b}")
        return a + b

    total = io.run_task("add", add, payload["a"], payload["b"])
    io.wait("tick", seconds=0.05)
    return {"total": total}
'''


def strict_json(text: str) -> Any:
    """Parse ``text`` as RFC 8259 JSON: Python's extensions (NaN, Infinity) are rejected."""

    def reject(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON (RFC 8259)")

    return json.loads(text, parse_constant=reject)


def timestamp(value: Any) -> datetime:
    """An ISO 8601 timestamp of the output contract, which must carry a timezone."""
    assert isinstance(value, str), f"timestamp {value!r} is not a string"
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"timestamp {value!r} has no timezone"
    return parsed


def check_error(error: Any) -> dict[str, Any]:
    """``error`` is an object with exactly type/message/task/traceback."""
    assert isinstance(error, dict), f"error {error!r} is not an object"
    assert set(error) == ERROR_KEYS, f"error keys are {sorted(error)}"
    assert isinstance(error["type"], str) and error["type"]
    assert isinstance(error["message"], str) and error["message"]
    assert error["task"] is None or isinstance(error["task"], str)
    assert error["traceback"] is None or isinstance(error["traceback"], str)
    return error


def check_task(task: Any) -> dict[str, Any]:
    """A task object of the output contract."""
    assert isinstance(task, dict), f"task {task!r} is not an object"
    assert set(task) == TASK_KEYS, f"task keys are {sorted(task)}"
    assert isinstance(task["key"], str) and task["key"]
    assert isinstance(task["name"], str)
    assert task["status"] in TASK_STATUSES, f"task status {task['status']!r}"
    assert isinstance(task["attempts"], int) and task["attempts"] >= 0
    if task["error"] is not None:
        check_error(task["error"])
    if task["started_at"] is not None:
        timestamp(task["started_at"])
    if task["ended_at"] is not None:
        timestamp(task["ended_at"])
    assert task["duration_ms"] is None or task["duration_ms"] >= 0
    # the attempts of its function: numbered from 1 up to ``attempts``, each once, in order
    history = task["attempt_history"]
    numbers = [a["attempt"] for a in history]
    assert numbers == sorted(set(numbers)), f"attempt numbers {numbers}"
    assert all(1 <= n <= task["attempts"] for n in numbers), f"{numbers} of {task['attempts']}"
    for a in history:
        assert timestamp(a["started_at"]) <= timestamp(a["ended_at"]), a
        assert a["duration_ms"] >= 0
        if a["error"] is not None:
            check_error(a["error"])
    if task["kind"] == "task" and task["status"] == "completed":
        assert history and history[-1]["error"] is None, f"{task['key']}: {history}"
    return task


def check_run(run: Any, *, with_tasks: bool = True) -> dict[str, Any]:
    """A run object of the output contract (``runs list`` objects have no ``tasks`` and
    ``logs``), valid against the OpenAPI document's ``RunDetail`` (or ``Run``) schema."""
    assert isinstance(run, dict), f"run {run!r} is not an object"
    check_component(run, "RunDetail" if with_tasks else "Run")
    # list objects are ``Run``s: no tasks and logs, nor what only the detail carries
    expected = RUN_KEYS if with_tasks else LIST_RUN_KEYS
    assert set(run) == expected, f"run keys are {sorted(run)}, expected {sorted(expected)}"
    assert isinstance(run["id"], str) and run["id"]
    assert isinstance(run["job"], str)
    assert run["status"] in RUN_STATUSES, f"run status {run['status']!r}"
    timestamp(run["created_at"])
    for name in ("started_at", "ended_at"):
        if run[name] is not None:
            timestamp(run[name])
    if run["error"] is not None:
        check_error(run["error"])
    if with_tasks:
        assert isinstance(run["tasks"], list)
        for task in run["tasks"]:
            check_task(task)
        starts = [timestamp(t["started_at"]) for t in run["tasks"] if t["started_at"]]
        assert starts == sorted(starts), "tasks are not listed in start order"
    return run


@dataclass(frozen=True)
class CliResult:
    """One finished ``relaykit`` invocation."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def describe(self) -> str:
        """Everything about the invocation, for assertion messages."""
        return (
            f"relaykit {' '.join(self.args)}\nexit code {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
        )

    def json(self) -> Any:
        """stdout as exactly one line holding one strict JSON value, and nothing else."""
        assert self.stdout.endswith("\n"), f"stdout is not one line:\n{self.describe()}"
        assert self.stdout.count("\n") == 1, f"stdout is not one line:\n{self.describe()}"
        try:
            return strict_json(self.stdout)
        except ValueError as exc:
            raise AssertionError(f"stdout is not JSON ({exc}):\n{self.describe()}") from exc

    def run_object(self, *, exit_code: int) -> dict[str, Any]:
        """The run object printed with ``--json``, after checking the exit code."""
        assert self.returncode == exit_code, self.describe()
        return check_run(self.json())

    def error_line(self, *, status: int = 2) -> str:
        """A one-line error: exit ``status`` (2, a usage error; 1, a store that is away for
        now), nothing on stdout, exactly one line on stderr (returned)."""
        assert self.returncode == status, self.describe()
        assert self.stdout.strip() == "", f"stdout is not empty:\n{self.describe()}"
        lines = self.stderr.splitlines()
        assert len(lines) == 1, f"stderr is not exactly one line:\n{self.describe()}"
        assert lines[0].strip(), self.describe()
        return lines[0]


class Relaykit:
    """Runs the ``relaykit`` command in a directory, as a user would: in this interpreter
    (``in_process``, see ``tests/acceptance/inprocess.py``) or as the installed script in a
    subprocess. ``popen`` and ``python_module`` always start a process."""

    def __init__(self, exe: Path, cwd: Path, *, in_process: bool = False) -> None:
        self.exe = exe
        self.cwd = cwd
        self.in_process = in_process
        env = dict(os.environ)
        for name in ("RELAYKIT_DATABASE_URL", "RELAYKIT_LEASE_SECONDS", "RELAYKIT_ENV"):
            env.pop(name, None)
        env["COLUMNS"] = "200"  # rich wraps human output at the terminal width
        self.env = env

    def _env(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        return {**self.env, **(extra or {})}

    def __call__(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 60.0,
        input: str | None = None,
    ) -> CliResult:
        """Run ``relaykit ARGS`` to completion, with ``input`` on its stdin (else none).

        ``timeout`` bounds a subprocess; an in-process call is bounded by the test's timeout.
        """
        started = time.monotonic()
        if self.in_process:
            code, out, err = inprocess.invoke(
                self.exe, args, cwd=cwd or self.cwd, environ=self._env(env), input=input
            )
            return CliResult(args, code, out, err, time.monotonic() - started)
        done = subprocess.run(
            [str(self.exe), *args],
            cwd=cwd or self.cwd,
            env=self._env(env),
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return CliResult(
            args, done.returncode, done.stdout, done.stderr, time.monotonic() - started
        )

    def python_module(self, *args: str, timeout: float = 60.0) -> CliResult:
        """Run ``python -m relaykit ARGS`` (the README's spelling) with this interpreter."""
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "relaykit", *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return CliResult(
            ("-m", *args), done.returncode, done.stdout, done.stderr, time.monotonic() - started
        )

    def popen(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``relaykit ARGS`` without waiting (use as a context manager)."""
        return subprocess.Popen(
            [str(self.exe), *args],
            cwd=self.cwd,
            env=self._env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    # -- conveniences -------------------------------------------------------------------------

    def run_json(
        self, app: str, job: str, payload: Any = None, *, db: Sequence[str] = DB
    ) -> CliResult:
        """``relaykit run APP JOB [--payload JSON] --json`` on ``db``."""
        extra = () if payload is None else ("--payload", json.dumps(payload))
        return self("run", app, job, *extra, "--json", *db)

    def detach(self, app: str, job: str, payload: Any = None, *, db: Sequence[str] = DB) -> str:
        """Enqueue a run with ``--detach --json`` and return its id."""
        extra = () if payload is None else ("--payload", json.dumps(payload))
        done = self("run", app, job, *extra, "--detach", "--json", *db)
        assert done.returncode == 0, done.describe()
        data = done.json()
        assert isinstance(data, dict) and set(data) == {"id"}, done.describe()
        assert isinstance(data["id"], str) and data["id"], done.describe()
        return data["id"]

    def worker_until_idle(
        self, app: str, *, db: Sequence[str] = DB, env: Mapping[str, str] | None = None
    ) -> CliResult:
        """``relaykit worker APP --exit-when-idle``; it must exit 0."""
        done = self("worker", app, "--exit-when-idle", *db, env=env, timeout=90.0)
        assert done.returncode == 0, done.describe()
        return done

    def show(self, run_id: str, *, db: Sequence[str] = DB) -> dict[str, Any]:
        """``relaykit runs show RUN --json``."""
        done = self("runs", "show", run_id, "--json", *db)
        assert done.returncode == 0, done.describe()
        return check_run(done.json())

    def list_runs(self, *args: str, db: Sequence[str] = DB) -> list[dict[str, Any]]:
        """``relaykit runs list ARGS --json``, page after page by ``--cursor`` (every run,
        not only the latest 50); each page is checked against the ``RunPage`` schema."""
        runs: list[dict[str, Any]] = []
        cursor: list[str] = []
        while True:
            done = self("runs", "list", *args, "--limit", "200", *cursor, "--json", *db)
            assert done.returncode == 0, done.describe()
            page = check_component(done.json(), "RunPage")
            runs += [check_run(r, with_tasks=False) for r in page["data"]]
            if page["next_cursor"] is None:
                return runs
            cursor = ["--cursor", page["next_cursor"]]

    def snapshot(self, *, db: Sequence[str] = DB) -> list[dict[str, Any]]:
        """Every recorded run with its tasks, as the CLI reports them."""
        return [self.show(r["id"], db=db) for r in self.list_runs(db=db)]

    def side_effects(self) -> list[str]:
        """The lines the app's task functions wrote (one per real execution)."""
        log = self.cwd / "side-effects.log"
        return log.read_text(encoding="utf-8").splitlines() if log.exists() else []

    @staticmethod
    def time(value: Any) -> datetime:
        """A timestamp of the output contract as an aware datetime."""
        return timestamp(value)


@pytest.fixture(scope="session")
def relaykit_exe() -> Path:
    """The installed ``relaykit`` script beside the interpreter running the tests."""
    exe = Path(sys.executable).parent / "relaykit"
    if not exe.is_file():
        pytest.fail(
            f"the relaykit command is not installed at {exe}; install the package into this "
            "environment (python -m pip install -e .) so its console script exists"
        )
    return exe


def _all_subprocess() -> bool:
    mode = os.environ.get(CLI_MODE_ENV, "")
    if mode not in ("", "subprocess", "in-process"):
        pytest.fail(f"{CLI_MODE_ENV}={mode!r}: use 'subprocess' or 'in-process' (the default)")
    return mode == "subprocess"


@pytest.fixture(scope="session")
def make_relaykit(relaykit_exe: Path) -> Callable[..., Relaykit]:
    """Makes a ``Relaykit`` running in a given folder (for session-scoped set-ups): in-process,
    or a subprocess one under ``RELAYKIT_TEST_CLI=subprocess``; ``in_process=`` chooses."""
    return functools.partial(Relaykit, relaykit_exe, in_process=not _all_subprocess())


@pytest.fixture
def rk(relaykit_exe: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Relaykit:
    """The ``relaykit`` command, run in ``tmp_path``: in-process, or as the installed script
    in a subprocess for a test marked ``@pytest.mark.subprocess``."""
    marked = request.node.get_closest_marker("subprocess") is not None
    return Relaykit(relaykit_exe, tmp_path, in_process=not (marked or _all_subprocess()))


@pytest.fixture(scope="session")
def app_source() -> str:
    """The source of the acceptance app."""
    return APP_SOURCE


@pytest.fixture
def app(tmp_path: Path, app_source: str) -> str:
    """The acceptance app written to ``tmp_path/app.py``; returns the APP argument."""
    (tmp_path / "app.py").write_text(app_source, encoding="utf-8")
    return "app.py"


def app_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app: str = "app.py") -> Client:
    """The client of ``tmp_path/APP`` on ``tmp_path/relaykit.db``, loaded as the CLI loads
    it, with ``tmp_path`` the current directory (where its tasks write side effects)."""
    from relaykit.cli._app import load_client

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    client = load_client(app)
    client.use_database(f"sqlite:///{tmp_path / 'relaykit.db'}")
    return client


@contextlib.asynccontextmanager
async def authorized_api(
    client: Client,
) -> AsyncIterator[tuple[httpx2.AsyncClient, dict[str, str]]]:
    """An HTTP client on ``client``'s ASGI app and the ``Authorization`` header of a new API
    key; the client's store is closed afterwards."""
    from relaykit.server import Access

    await client.open()
    try:
        key = await Access(client.store, client.clock).create_key("tests")
        transport = httpx2.ASGITransport(app=client.asgi_app())
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as http:
            yield http, {"Authorization": f"Bearer {key.secret}"}
    finally:
        await client.close()
