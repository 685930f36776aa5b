"""Kill -9 campaign: workers SIGKILLed at random while runs execute, side effects counted.

    python3 benchmarks/crash_campaign.py [--backend postgres|sqlite] [--runs 300] [--tasks 20]
        [--workers 3] [--kill-every 0.4:1.2] [--terminations 2] [--pg-restarts 2] [--json]

``tests/crash`` runs the same driver at small scale in the suite; this script is the full-scale
campaign whose figures ``docs/internals/execution-model.md`` quotes.

What runs: ``--workers`` real ``relaykit worker`` processes on one database, the GitHub, Slack
and OpenAI plugins installed (found through their ``relaykit`` entry points, so the workers
load them at start exactly as for a user), executing ``--runs`` runs of a job with ``--tasks``
tasks: async and sync (thread) tasks, a durable wait, a log line and GitHub API calls
(``io.github.create_issue_comment``) answered by a local fake GitHub. Meanwhile a killer
SIGKILLs a random worker every ``--kill-every`` seconds and starts a replacement; on PostgreSQL
it also terminates every server connection to the database (``--terminations``) and, with a
private server started by this script, restarts the server in immediate (crash) mode
(``--pg-restarts``).

What is counted: every task body appends ``B``/``E`` lines (run, key, pid, monotonic and wall
time; one ``write`` on an ``O_APPEND`` descriptor per line, so lines from many processes stay
whole) to a side-effect log, and the fake GitHub appends one line per comment it receives. At
the end the log is compared with the store:

- runs lost or stuck: runs not ``succeeded`` when the campaign's deadline passes;
- completed tasks executed again: an execution that began after the store's record of the
  task says it had ended — work done twice although its result was durable;
- in-flight re-executions: the other extra executions (a body that ran but whose record was
  never committed because its process died); the promise is at most one per run per fault
  that touched the run;
- overlapping attempts: two executions of one run's tasks in progress at the same moment (the
  job is sequential, so any overlap means two attempts ran the run at once).

The exit status is 1 when any of the first, second or fourth count is not zero, or the third
breaks its bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from itertools import count, pairwise
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the test helpers live beside it
    sys.path.insert(0, str(ROOT))

from tests.localserver import serve  # noqa: E402 -- needs ROOT on sys.path

PLUGINS = {
    "relaykit-github": ("github", "relaykit_github", ROOT / "integrations" / "github"),
    "relaykit-slack": ("slack", "relaykit_slack", ROOT / "integrations" / "slack"),
    "relaykit-openai": ("openai", "relaykit_openai", ROOT / "integrations" / "openai"),
}
JOB_ID = "crash.work"
GITHUB_TOKEN = "ghp_crashcampaign0000000000000000000000"  # noqa: S105 -- a made-up token

APP = '''\
"""The crash campaign's app: one sequential job of TASKS tasks that log their side effects."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from relaykit_github import GitHub

import relaykit
from relaykit import Client, Context

client = Client(id="crash")
github = GitHub(token_env="CRASH_GITHUB_TOKEN", base_url=os.environ["CRASH_GITHUB_URL"])
EFFECTS = os.environ["CRASH_EFFECTS"]
TASKS = TASK_COUNT


def effect(what: str, run_id: str, key: str) -> None:
    line = f"{what} {run_id} {key} {os.getpid()} {time.monotonic_ns()} {time.time_ns()}\\n"
    fd = os.open(EFFECTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one write per line: O_APPEND keeps lines whole
    finally:
        os.close(fd)


async def step(run_id: str, key: str, n: int, ms: int) -> int:
    effect("B", run_id, key)
    try:
        await asyncio.sleep(ms / 1000)
        return n
    finally:
        effect("E", run_id, key)


def sync_step(run_id: str, key: str, n: int, ms: int) -> int:
    effect("B", run_id, key)
    try:
        time.sleep(ms / 1000)
        return n
    finally:
        effect("E", run_id, key)


@client.define_job(id="crash.work", version="1.0.0", integrations={"github": github})
async def work(payload: Any, io: relaykit.IO, ctx: Context) -> dict[str, Any]:
    run_id, ms = ctx.run.id, int(payload["ms"])
    total, comments = 0, []
    for k in range(TASKS):
        key = f"t{k:02d}"
        if k == TASKS // 2:
            await io.logger.info("half way", total=total)
            await io.wait(key, seconds=float(payload["wait"]))
        elif k % 5 == 3:
            comment = await io.github.create_issue_comment(
                key, owner="relaykit", repo="crash", issue_number=1, body=f"{run_id} {key}"
            )
            comments.append(int(comment["id"]))
        elif k % 5 == 1:
            total += await io.run_task(key, sync_step, run_id, key, k, ms)
        else:
            total += await io.run_task(key, step, run_id, key, k, ms)
    return {"total": total, "comments": comments}
'''


def task_keys(tasks: int) -> list[str]:
    """The keys the job records, in order."""
    return [f"t{k:02d}" for k in range(tasks)]


def expected_total(tasks: int) -> int:
    """The ``total`` a run's output must hold: the sum of its async and sync tasks' numbers."""
    return sum(k for k in range(tasks) if k != tasks // 2 and k % 5 != 3)


# -- the fake GitHub ------------------------------------------------------------------------


@contextmanager
def fake_github(effects: Path) -> Iterator[str]:
    """A local GitHub answering ``POST /repos/{o}/{r}/issues/{n}/comments`` as the REST API
    does (201 and the comment); each comment received is a side effect in ``effects``."""
    from starlette.applications import Starlette
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    ids = count(1)
    lock = threading.Lock()

    async def comment(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {GITHUB_TOKEN}":
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        try:
            body = (await request.json())["body"]
        except ClientDisconnect:  # the worker was killed while sending: GitHub got nothing
            return JSONResponse({"message": "client disconnected"}, status_code=400)
        run_id, key = body.split(" ")
        with lock:
            number = next(ids)
        now = f"{time.monotonic_ns()} {time.time_ns()}"
        line = f"B {run_id} {key} github {now}\nE {run_id} {key} github {now}\n"
        fd = os.open(effects, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        owner, repo = request.path_params["owner"], request.path_params["repo"]
        issue = request.path_params["number"]
        url = f"https://github.com/{owner}/{repo}/issues/{issue}#issuecomment-{number}"
        return JSONResponse(
            {"id": number, "node_id": f"IC_{number}", "body": body, "html_url": url},
            status_code=201,
        )

    app = Starlette(
        routes=[Route("/repos/{owner}/{repo}/issues/{number}/comments", comment, methods=["POST"])]
    )
    with serve(app) as url:
        yield url


# -- the plugins, installed -----------------------------------------------------------------


def install_plugins(folder: Path) -> list[str]:
    """Make the three integration packages installed for the workers: a ``*.dist-info`` with
    their ``relaykit`` entry point each (what pip writes), the source folders on the path.
    Returns the ``PYTHONPATH`` entries."""
    for dist, (name, module, _) in PLUGINS.items():
        info = folder / f"{dist.replace('-', '_')}-0.1.0.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(f"[relaykit]\n{name} = {module}\n", encoding="utf-8")
    return [str(folder), *(str(source) for _, _, source in PLUGINS.values())]


# -- PostgreSQL -----------------------------------------------------------------------------


def pg_execute(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement on its own autocommit connection; return the rows."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        cur = conn.execute(sql, params)
        return list(cur.fetchall()) if cur.description else []


def terminate_connections(url: str) -> int:
    """Terminate every other server connection to ``url``'s database, as a failover or an
    administrator's ``pg_terminate_backend`` does; return how many there were."""
    from urllib.parse import urlsplit

    database = urlsplit(url).path.lstrip("/")
    rows = pg_execute(
        url,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()",
        database,
    )
    return int(rows[0][0])


class PrivatePostgres:
    """A throwaway PostgreSQL server of this campaign's own (the machine's ``initdb`` and
    ``pg_ctl``, run as the ``postgres`` user when this process is root), so that it can be
    restarted in immediate mode — a crash of the server — without touching anyone else's."""

    def __init__(self) -> None:
        self.folder = folder = Path(tempfile.mkdtemp(prefix="relaykit-crash-pg-"))
        self.data = folder / "pgdata"
        self.port = _free_port()
        self.bindir = _pg_bindir()
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(folder, "postgres")

    @property
    def url(self) -> str:
        """The URL of the campaign's database on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/crash"

    def _ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", *args)

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [*self._as, str(self.bindir / program), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)}: {done.stdout}{done.stderr}")

    def start(self) -> None:
        """Initialise, start and create the ``crash`` database."""
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        self._start()
        pg_execute(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", "CREATE DATABASE crash")

    def _start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=on"
        # -l: the server's output goes to its log, not to pipes pg_ctl's caller waits on.
        self._ctl("-o", options, "-l", str(self.folder / "server.log"), "start")

    def restart(self) -> None:
        """Crash the server (``pg_ctl stop -m immediate``: no checkpoint, WAL replay at the
        next start) and start it again."""
        self._ctl("-m", "immediate", "stop")
        self._start()

    def stop(self) -> None:
        """Stop the server and delete its files."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._ctl("-m", "fast", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def _pg_bindir() -> Path:
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not versions:
        raise SystemExit(
            "crash_campaign: --pg-restarts needs PostgreSQL's initdb and pg_ctl (Debian: "
            "apt-get install postgresql); or pass --pg-restarts 0 --database-url URL"
        )
    return versions[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the campaign ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """One campaign's shape."""

    database_url: str
    workdir: Path
    runs: int = 30
    tasks: int = 20
    workers: int = 3
    concurrency: int = 2
    task_ms: int = 15
    wait_seconds: float = 0.3
    lease_seconds: float = 2.0
    kill_every: tuple[float, float] = (0.4, 1.2)
    max_kills: int = 1_000_000
    terminations: int = 0
    pg_restart: Callable[[], None] | None = None
    pg_restarts: int = 0
    deadline_seconds: float = 300.0
    seed: int = 0


@dataclass(frozen=True)
class Fault:
    """One fault the campaign injected: when (monotonic ns), what, and whose process."""

    ns: int
    kind: str  # "kill", "terminate" or "restart"
    pid: int | None = None


@dataclass(frozen=True)
class Execution:
    """One execution of a task body, from its ``B`` line to its ``E`` line (``end`` None:
    its process was killed before it ended)."""

    run_id: str
    key: str
    pid: str
    start: int
    wall_start: int
    end: int | None


@dataclass
class Report:
    """What the campaign counted."""

    backend: str
    runs: int
    tasks_per_run: int
    workers: int
    seconds: float = 0.0
    kills: int = 0
    terminations: int = 0
    restarts: int = 0
    executions: int = 0
    succeeded: int = 0
    lost_or_stuck: list[str] = field(default_factory=list)
    store_mismatches: list[str] = field(default_factory=list)
    completed_reexecuted: list[str] = field(default_factory=list)
    inflight_reexecutions: int = 0
    runs_with_reexecutions: int = 0
    over_bound: list[str] = field(default_factory=list)
    overlaps: list[str] = field(default_factory=list)
    takeovers: int = 0

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing done twice, no overlap, every re-execution within its bound."""
        return not (
            self.lost_or_stuck
            or self.store_mismatches
            or self.completed_reexecuted
            or self.over_bound
            or self.overlaps
        )

    def summary(self) -> str:
        """The figures, one line each."""
        return "\n".join(
            [
                f"backend {self.backend}: {self.runs} runs x {self.tasks_per_run} tasks, "
                f"{self.workers} workers, {self.seconds:.1f} s",
                f"faults: {self.kills} SIGKILLs, {self.terminations} connection terminations, "
                f"{self.restarts} server restarts",
                f"task executions logged: {self.executions}",
                f"runs succeeded: {self.succeeded}/{self.runs}; lost or stuck: "
                f"{len(self.lost_or_stuck)}",
                f"completed tasks executed again: {len(self.completed_reexecuted)}",
                f"in-flight re-executions: {self.inflight_reexecutions} in "
                f"{self.runs_with_reexecutions} runs (runs over 1 per fault: "
                f"{len(self.over_bound)})",
                f"moves of a run between workers (resumes after the wait, takeovers after a "
                f"kill): {self.takeovers}",
                f"overlapping attempts: {len(self.overlaps)}",
                f"store mismatches: {len(self.store_mismatches)}",
            ]
        )


class Campaign:
    """Start workers, enqueue runs, inject faults until every run ended (or the deadline),
    then compare the side-effect log with the store."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.work = config.workdir
        self.effects = self.work / "effects.log"
        self.faults: list[Fault] = []
        self._procs: list[subprocess.Popen[bytes]] = []
        self._spawned = count()
        self._env: dict[str, str] = {}
        self._rng = random.Random(config.seed)
        # the workers (pids) seen beginning a task in the side-effect log, read up to
        # _effects_read: only those are killed, so that on a loaded machine, or one where
        # connecting takes long, the workers killed have started and executed something
        self._working: set[int] = set()
        self._effects_read = 0

    # -- processes ------------------------------------------------------------------------

    def _worker(self) -> subprocess.Popen[bytes]:
        n = next(self._spawned)
        out = (self.work / f"worker-{n}.log").open("wb")
        try:
            return subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("relaykit")),
                    "worker",
                    "app.py",
                    "--quiet",
                    "--concurrency",
                    str(self.config.concurrency),
                    "--database",
                    self.config.database_url,
                ],
                cwd=self.work,
                env=self._env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        finally:
            out.close()

    def _kill(self, index: int) -> None:
        proc = self._procs[index]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.faults.append(Fault(time.monotonic_ns(), "kill", proc.pid))
        self._procs[index] = self._worker()

    def _victim(self) -> int | None:
        """A worker seen beginning a task (the effects log names its pid), if any."""
        with self.effects.open("rb") as log:
            log.seek(self._effects_read)
            new = log.read()
        whole = new[: new.rfind(b"\n") + 1]  # a line being written is read next time
        self._effects_read += len(whole)
        for line in whole.decode().splitlines():
            fields = line.split()
            if fields and fields[0] == "B" and fields[3].isdigit():  # not the fake GitHub's
                self._working.add(int(fields[3]))
        working = [i for i, proc in enumerate(self._procs) if proc.pid in self._working]
        return self._rng.choice(working) if working else None

    def _stop_workers(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self._procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _check_plugins(self) -> None:
        done = subprocess.run(
            [str(Path(sys.executable).with_name("relaykit")), "plugins", "--json"],
            cwd=self.work,
            env=self._env,
            capture_output=True,
            text=True,
            check=False,
        )
        listed = {p["name"] for p in json.loads(done.stdout)["plugins"]} if done.stdout else set()
        missing = {name for name, _, _ in PLUGINS.values()} - listed
        if done.returncode != 0 or missing:
            raise RuntimeError(
                f"the workers would not load the plugins {sorted(missing)}: {done.stderr}"
            )

    # -- the run -------------------------------------------------------------------------

    def run(self) -> Report:
        """The whole campaign; the report of what it counted."""
        cfg = self.config
        self.work.mkdir(parents=True, exist_ok=True)
        self.effects.touch()
        (self.work / "app.py").write_text(
            APP.replace("TASK_COUNT", str(cfg.tasks)), encoding="utf-8"
        )
        path = install_plugins(self.work / "site")
        backend = "postgres" if cfg.database_url.startswith("postgres") else "sqlite"
        report = Report(backend, cfg.runs, cfg.tasks, cfg.workers)
        started = time.monotonic()
        with fake_github(self.effects) as github_url:
            self._env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("RELAYKIT_")},
                "PYTHONPATH": os.pathsep.join([*path, os.environ.get("PYTHONPATH", "")]),
                "RELAYKIT_LEASE_SECONDS": str(cfg.lease_seconds),
                "CRASH_EFFECTS": str(self.effects),
                "CRASH_GITHUB_URL": github_url,
                "CRASH_GITHUB_TOKEN": GITHUB_TOKEN,
            }
            self._check_plugins()
            run_ids = asyncio.run(self._enqueue())
            self._procs = [self._worker() for _ in range(cfg.workers)]
            try:
                self._inject_faults(run_ids, started)
            finally:
                self._stop_workers()
        report.seconds = time.monotonic() - started
        asyncio.run(self._analyse(run_ids, report))
        return report

    async def _enqueue(self) -> list[str]:
        from relaykit import Client

        client = Client("crash", database_url=self.config.database_url)

        async def never(payload: object, io: object, ctx: object) -> None:
            raise AssertionError("the campaign's own process executes no run")

        client.define_job(id=JOB_ID, version="1.0.0", run=never)
        try:
            payload = {"ms": self.config.task_ms, "wait": self.config.wait_seconds}
            return [await client.enqueue(JOB_ID, payload) for _ in range(self.config.runs)]
        finally:
            await client.close()

    def _inject_faults(self, run_ids: list[str], started: float) -> None:
        cfg = self.config
        deadline = started + cfg.deadline_seconds
        low, high = cfg.kill_every
        next_kill = time.monotonic() + self._rng.uniform(low, high)
        kills = 0
        # The connection faults, spread over the first part of the campaign.
        extra = ["terminate"] * cfg.terminations + ["restart"] * cfg.pg_restarts
        self._rng.shuffle(extra)
        while time.monotonic() < deadline:
            unfinished = asyncio.run(self._unfinished(run_ids))
            if not unfinished:
                return
            now = time.monotonic()
            victim = self._victim() if kills < cfg.max_kills and now >= next_kill else None
            if victim is not None:  # else the kill waits for a worker that has started
                self._kill(victim)
                kills += 1
                next_kill = now + self._rng.uniform(low, high)
                if extra and kills % 3 == 0:  # every third kill, a connection fault too
                    self._connection_fault(extra.pop())
            for i, proc in enumerate(self._procs):  # a worker that died on its own: respawn
                if proc.poll() is not None:
                    self._procs[i] = self._worker()
            time.sleep(0.1)

    def _connection_fault(self, kind: str) -> None:
        if kind == "terminate":
            terminate_connections(self.config.database_url)
        else:
            assert self.config.pg_restart is not None
            self.config.pg_restart()
        self.faults.append(Fault(time.monotonic_ns(), kind))

    async def _unfinished(self, run_ids: list[str]) -> int:
        from relaykit.store import store_from_url

        store = store_from_url(self.config.database_url)
        try:
            await store.open(migrate=False)
            # the database holds the campaign's runs only: one query per final status, not one
            # read per run every round
            ids = set(run_ids)
            finished = 0
            for status in ("succeeded", "failed", "canceled"):
                runs = await store.list_runs(status=status, limit=len(run_ids))
                finished += sum(run.id in ids for run in runs)
            return len(run_ids) - finished
        except Exception:  # the server is restarting: ask again on the next round
            return len(run_ids)
        finally:
            await store.close()

    # -- the analysis --------------------------------------------------------------------

    def executions(self) -> list[Execution]:
        """The task executions the side-effect log shows."""
        open_: dict[tuple[str, str, str], list[tuple[int, int]]] = defaultdict(list)
        done: list[Execution] = []
        for text in self.effects.read_text(encoding="utf-8").splitlines():
            what, run_id, key, pid, mono, wall = text.split(" ")
            if what == "B":
                open_[(run_id, key, pid)].append((int(mono), int(wall)))
            else:
                start, wall_start = open_[(run_id, key, pid)].pop(0)
                done.append(Execution(run_id, key, pid, start, wall_start, int(mono)))
        for (run_id, key, pid), starts in open_.items():
            done.extend(Execution(run_id, key, pid, s, w, None) for s, w in starts)
        return sorted(done, key=lambda e: e.start)

    async def _analyse(self, run_ids: list[str], report: Report) -> None:
        from relaykit.store import store_from_url

        report.kills = sum(f.kind == "kill" for f in self.faults)
        report.terminations = sum(f.kind == "terminate" for f in self.faults)
        report.restarts = sum(f.kind == "restart" for f in self.faults)
        executions = self.executions()
        report.executions = len(executions)
        by_run: dict[str, list[Execution]] = defaultdict(list)
        for ex in executions:
            by_run[ex.run_id].append(ex)
        store = store_from_url(self.config.database_url)
        await store.open(migrate=False)
        try:
            for run_id in run_ids:
                run = await store.get_run(run_id)
                tasks = {t.key: t for t in await store.load_tasks(run_id)}
                status = None if run is None else run.status.value
                if run is None or status != "succeeded":
                    error = "" if run is None or not run.error else f" ({run.error['message']})"
                    report.lost_or_stuck.append(f"{run_id}: {status}{error}")
                    continue
                report.succeeded += 1
                self._check_run(run_id, run.output, tasks, by_run[run_id], report)
        finally:
            await store.close()

    def _check_run(
        self,
        run_id: str,
        output: str | None,
        tasks: dict[str, Any],
        executions: list[Execution],
        report: Report,
    ) -> None:
        cfg = self.config
        keys = task_keys(cfg.tasks)
        got = json.loads(output or "null")
        if not isinstance(got, dict) or got.get("total") != expected_total(cfg.tasks):
            report.store_mismatches.append(f"{run_id}: output {output}")
        missing = [k for k in keys if k not in tasks or tasks[k].status.value != "completed"]
        if missing:
            report.store_mismatches.append(f"{run_id}: tasks not completed {missing}")
        per_key: dict[str, list[Execution]] = defaultdict(list)
        for ex in executions:
            per_key[ex.key].append(ex)
        extra = 0
        for key, runs_of_key in per_key.items():
            record = tasks.get(key)
            if record is None or record.ended_at is None:
                report.store_mismatches.append(f"{run_id}/{key}: executed but not recorded")
                continue
            ended_ns = int(record.ended_at * 1e9)
            for ex in runs_of_key:
                if ex.wall_start > ended_ns:
                    report.completed_reexecuted.append(
                        f"{run_id}/{key}: pid {ex.pid} began {ex.wall_start - ended_ns} ns "
                        "after the task's recorded end"
                    )
            extra += len(runs_of_key) - 1
        for key in keys:
            if key not in per_key and key != keys[cfg.tasks // 2]:
                report.store_mismatches.append(f"{run_id}/{key}: recorded but never executed")
        if extra:
            report.inflight_reexecutions += extra
            report.runs_with_reexecutions += 1
            touched = self._faults_touching(executions)
            if extra > touched:
                report.over_bound.append(
                    f"{run_id}: {extra} re-executions, {touched} faults touched the run"
                )
        report.takeovers += sum(
            a.pid != b.pid for a, b in pairwise(e for e in executions if e.pid != "github")
        )
        self._check_overlaps(run_id, executions, report)

    def _faults_touching(self, executions: Sequence[Execution]) -> int:
        """The faults that can have cost this run work: a SIGKILL of a process that executed
        one of its tasks, or a connection fault while it was in progress."""
        pids = {e.pid for e in executions}
        first = min(e.start for e in executions)
        last = max(e.end or e.start for e in executions)
        return sum(
            (f.kind == "kill" and str(f.pid) in pids)
            or (f.kind != "kill" and first <= f.ns <= last)
            for f in self.faults
        )

    def _check_overlaps(self, run_id: str, executions: list[Execution], report: Report) -> None:
        killed_at = {str(f.pid): f.ns for f in self.faults if f.kind == "kill"}
        for earlier, later in pairwise(executions):
            end = earlier.end
            if end is None:
                end = killed_at.get(earlier.pid, earlier.start)
            if end > later.start:
                report.overlaps.append(
                    f"{run_id}: {later.key} began in pid {later.pid} while {earlier.key} was "
                    f"executing in pid {earlier.pid} ({(end - later.start) / 1e6:.1f} ms)"
                )


# -- the command line -----------------------------------------------------------------------


def _span(text: str) -> tuple[float, float]:
    low, _, high = text.partition(":")
    return float(low), float(high or low)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one campaign from the command line; print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--database-url", help="an existing database (default: a fresh one)")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--kill-every", type=_span, default=(0.4, 1.2), metavar="LOW:HIGH")
    parser.add_argument("--terminations", type=int, default=2)
    parser.add_argument("--pg-restarts", type=int, default=2)
    parser.add_argument("--lease-seconds", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--figures", metavar="FILE", help="write the headline figures as JSON (benchmarks/all.py)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="relaykit-crash-") as tmp:
        work = Path(tmp)
        server: PrivatePostgres | None = None
        url = args.database_url
        if args.backend == "sqlite":
            url = url or f"sqlite:///{work / 'relaykit.db'}"
            args.terminations = args.pg_restarts = 0
        elif url is None:
            server = PrivatePostgres()
            server.start()
            url = server.url
        elif args.pg_restarts:
            parser.error("--pg-restarts needs the campaign's own server: omit --database-url")
        try:
            config = Config(
                database_url=url,
                workdir=work / "campaign",
                runs=args.runs,
                tasks=args.tasks,
                workers=args.workers,
                concurrency=args.concurrency,
                lease_seconds=args.lease_seconds,
                kill_every=args.kill_every,
                terminations=args.terminations,
                pg_restart=server.restart if server else None,
                pg_restarts=args.pg_restarts,
                deadline_seconds=max(300.0, args.runs * 2.0),
                seed=args.seed,
            )
            report = Campaign(config).run()
        finally:
            if server is not None:
                server.stop()
    if args.json:
        data = asdict(report)
        print(json.dumps({**data, "ok": report.ok}, indent=2))
    else:
        print(report.summary())
        for problem in (
            report.lost_or_stuck
            + report.completed_reexecuted
            + report.over_bound
            + report.overlaps
            + report.store_mismatches
        )[:20]:
            print("  " + problem)
    if args.figures:
        where = f"kill -9 campaign, {args.backend}, {report.runs} runs, {report.kills} kills"
        counts = {
            "runs lost or stuck": len(report.lost_or_stuck),
            "completed tasks re-executed": len(report.completed_reexecuted),
            "overlapping executions": len(report.overlaps),
        }
        figures = [
            {
                "figure": f"{where}: {what}",
                "unit": "",
                "better": "lower",
                "relaykit": n,
                "target": 0,
            }
            for what, n in counts.items()
        ]
        Path(args.figures).write_text(json.dumps(figures), encoding="utf-8")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["Campaign", "Config", "PrivatePostgres", "Report", "main", "terminate_connections"]
