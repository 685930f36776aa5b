"""Bad input: one line on stderr, no JSON, exit 2, and nothing already recorded lost or altered.

Tests that check "nothing lost" start from a database holding three runs (made once per
session by the CLI and copied in) and compare its whole content, and the CLI's list of runs,
before and after the bad command.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from tests.pg import execute, server_url

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit

DB = ("--database", "sqlite:///relaykit.db")

BAD_APPS = {
    "no_client.py": "from relaykit import Client\n\nclient_class = Client\nanswer = 42\n",
    "broken.py": 'raise RuntimeError("this app is broken at import")\n',
}


def _dump(db: Path) -> list[str]:
    """Every row of every table of the SQLite file, as SQL."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return list(conn.iterdump())


@dataclass(frozen=True)
class Recorded:
    """A folder whose ``relaykit.db`` holds one succeeded, one failed and one queued run."""

    folder: Path
    runs: list[dict[str, Any]]
    dump: list[str]

    def assert_unchanged(self, rk: Relaykit) -> None:
        """Nothing recorded was lost or altered, and nothing was added (every row compared)."""
        assert _dump(rk.cwd / "relaykit.db") == self.dump
        assert rk.side_effects() == ["double 1", "double 2", "break_widget"]


@pytest.fixture(scope="session")
def recorded_template(
    make_relaykit: Callable[[Path], Relaykit],
    app_source: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Recorded:
    """The recorded database, made once by the CLI."""
    folder = tmp_path_factory.mktemp("recorded")
    (folder / "app.py").write_text(app_source, encoding="utf-8")
    rk = make_relaykit(folder)
    rk.run_json("app.py", "pipeline", {"n": 1}).run_object(exit_code=0)
    rk.run_json("app.py", "explode").run_object(exit_code=1)
    rk.detach("app.py", "order", {"sku": "kept", "qty": 1})
    runs = rk.list_runs()
    assert [r["status"] for r in runs] == ["queued", "failed", "succeeded"]
    return Recorded(folder, runs, _dump(folder / "relaykit.db"))


@pytest.fixture
def recorded(rk: Relaykit, app: str, recorded_template: Recorded) -> Recorded:
    """A copy of the recorded database (and side-effect log) in the test's folder."""
    for name in ("relaykit.db", "relaykit.db-wal", "relaykit.db-shm", "side-effects.log"):
        if (recorded_template.folder / name).exists():
            shutil.copy(recorded_template.folder / name, rk.cwd / name)
    return recorded_template


@pytest.fixture
def bad_apps(tmp_path: Path) -> None:
    """App files that cannot serve: no Client in it, an exception at import."""
    for name, source in BAD_APPS.items():
        (tmp_path / name).write_text(source, encoding="utf-8")


# -- errors before a run exists ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("job", "payload", "detach", "named"),
    [
        ("no-such-job", '{"n": 1}', False, "no-such-job"),
        ("no-such-job", '{"n": 1}', True, "no-such-job"),
        ("pipeline", '{"n": 1', False, "--payload"),  # truncated
        ("pipeline", '{"n": 1', True, "--payload"),
        ("pipeline", "{n: 1}", False, "--payload"),  # unquoted key
        ("pipeline", "{'n': 1}", False, "--payload"),  # Python, not JSON
        ("pipeline", "", False, "--payload"),
        ("pipeline", "1 2", False, "--payload"),  # two values
        ("pipeline", '{"n": NaN}', False, "--payload"),  # JSON (RFC 8259) has no NaN
    ],
)
def test_unknown_job_or_malformed_payload(
    rk: Relaykit, recorded: Recorded, job: str, payload: str, detach: bool, named: str
) -> None:
    extra = ("--detach",) if detach else ()

    done = rk("run", "app.py", job, "--payload", payload, "--json", *extra, *DB)

    assert named in done.error_line()
    recorded.assert_unchanged(rk)


DEEP_PAYLOADS = ("[" * 5000 + "]" * 5000, '{"n":' * 3000 + "1" + "}" * 3000)


@pytest.mark.parametrize("deep", DEEP_PAYLOADS, ids=["array", "object"])
@pytest.mark.parametrize(
    "command",
    [
        ("run", "app.py", "pipeline", "--json"),
        ("run", "app.py", "pipeline", "--detach", "--json"),
        ("send", "app.py", "user.created", "--json"),
    ],
    ids=["run", "run-detach", "send"],
)
def test_a_deeply_nested_payload_is_one_line_not_a_recursion_error(
    rk: Relaykit, recorded: Recorded, command: tuple[str, ...], deep: str
) -> None:
    done = rk(*command, "--payload", deep, *DB)

    line = done.error_line()
    assert "--payload nests arrays and objects more than 200 levels deep" in line, line
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr
    recorded.assert_unchanged(rk)


def test_a_deeply_nested_payload_stores_nothing_on_postgresql(
    rk: Relaykit, app: str, postgres_url: str
) -> None:
    for command in (("run", app, "pipeline"), ("send", app, "user.created")):
        done = rk(*command, "--payload", DEEP_PAYLOADS[0], "--database", postgres_url)
        assert "more than 200 levels deep" in done.error_line()
    assert execute(postgres_url, "SELECT count(*) FROM runs") == [(0,)]
    assert execute(postgres_url, "SELECT count(*) FROM events") == [(0,)]


RUN = ("run", "{APP}", "pipeline", "--payload", '{"n": 1}', "--json")


@pytest.mark.parametrize(
    ("command", "target", "named"),
    [
        (RUN, "no_client.py", "no_client.py"),  # a module without a Client
        (RUN, "missing.py", "missing.py"),  # a file that does not exist
        (RUN, "missing/dir/app.py", "missing/dir/app.py"),
        # Two of them in a real process too (the rest run in-process).
        pytest.param(
            RUN, "no_such_module_xyz:client", "no_such_module_xyz", marks=pytest.mark.subprocess
        ),
        (RUN, "app.py:nothing_here", "nothing_here"),  # no such attribute
        pytest.param(RUN, "broken.py", "broken.py", marks=pytest.mark.subprocess),  # raises
        ((*RUN, "--detach"), "no_client.py", "no_client.py"),
        ((*RUN, "--detach"), "missing.py", "missing.py"),
        (("worker", "{APP}", "--exit-when-idle"), "no_client.py", "no_client.py"),
        (("worker", "{APP}", "--exit-when-idle"), "missing.py", "missing.py"),
        (("jobs", "{APP}", "--json"), "no_client.py", "no_client.py"),
        (("jobs", "{APP}", "--json"), "broken.py", "broken.py"),
    ],
)
def test_an_app_that_cannot_be_used(
    rk: Relaykit,
    recorded: Recorded,
    bad_apps: None,
    command: tuple[str, ...],
    target: str,
    named: str,
) -> None:
    args = [target if a == "{APP}" else a for a in command]
    if command[0] != "jobs":  # `jobs` reads only the APP
        args.extend(DB)

    done = rk(*args)

    line = done.error_line()
    assert named in line
    assert "Traceback" not in line
    recorded.assert_unchanged(rk)


# -- databases that cannot be opened ----------------------------------------------------------

DB_COMMANDS = [
    pytest.param(("run", "app.py", "pipeline", "--payload", '{"n": 1}', "--json"), id="run"),
    pytest.param(("run", "app.py", "pipeline", "--detach", "--json"), id="detach"),
    pytest.param(("worker", "app.py", "--exit-when-idle"), id="worker"),
    pytest.param(("runs", "list", "--json"), id="list"),
    pytest.param(("runs", "show", "run_x", "--json"), id="show"),
    pytest.param(("runs", "cancel", "run_x"), id="cancel"),
    pytest.param(("runs", "replay", "run_x"), id="replay"),
    pytest.param(("db", "migrate"), id="migrate"),
]


@pytest.mark.parametrize("command", DB_COMMANDS)
def test_a_database_that_is_not_sqlite_is_left_byte_for_byte(
    rk: Relaykit, app: str, command: tuple[str, ...]
) -> None:
    notes = rk.cwd / "notes.txt"
    content = b"these are my notes, not a database\n" * 100
    notes.write_bytes(content)

    done = rk(*command, "--database", "sqlite:///notes.txt")

    assert "notes.txt" in done.error_line()
    assert notes.read_bytes() == content
    assert rk.side_effects() == []


@pytest.mark.parametrize("command", DB_COMMANDS)
def test_a_database_path_that_is_a_directory(
    rk: Relaykit, app: str, command: tuple[str, ...]
) -> None:
    folder = rk.cwd / "a-folder"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep me", encoding="utf-8")

    done = rk(*command, "--database", "sqlite:///a-folder")

    assert "a-folder" in done.error_line()
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]
    assert (folder / "keep.txt").read_text(encoding="utf-8") == "keep me"


@pytest.mark.parametrize(
    "url",
    [
        "relaykit.db",  # not a URL
        "mysql://localhost/relaykit",  # a scheme relaykit does not support
        "sqlite://host/relaykit.db",  # two slashes: a host, not a path
        "sqlite:///relaykit.db?colour=blue",  # an unknown option
        "postgresql://nobody@127.0.0.1:1/relaykit",  # nothing listens there
        # {server}: the host and port of the session's PostgreSQL server (tests/pg_server.py)
        "postgresql://postgres@{server}/relaykit_no_such_db",  # no such database
        "postgresql://relaykit_no_such_role@{server}/postgres",  # no such user
        "postgresql://postgres@{server}/postgres?sslmode=bogus",  # a bad option
    ],
)
def test_a_database_url_that_cannot_be_used(
    rk: Relaykit, app: str, recorded: Recorded, url: str
) -> None:
    server = urlsplit(server_url())
    url = url.format(server=f"{server.hostname}:{server.port or 5432}")
    done = rk("run", app, "pipeline", "--payload", '{"n": 1}', "--json", "--database", url)

    # a server that refuses connections may come back: a store fault (exit 1, docs/cli.md),
    # not a usage error like the other URLs
    status = 1 if ":1/" in url else 2
    assert url.split("?")[0] in done.error_line(status=status)
    recorded.assert_unchanged(rk)


def test_a_postgresql_schema_from_a_newer_relaykit_is_refused_and_left_alone(
    rk: Relaykit, app: str, postgres_url: str
) -> None:
    execute(postgres_url, "INSERT INTO schema_migrations VALUES (999, 'from the future', 0)")
    before = execute(postgres_url, "SELECT version FROM schema_migrations ORDER BY version")

    done = rk("run", app, "pipeline", "--payload", '{"n": 1}', "--database", postgres_url)

    assert "schema version 999" in done.error_line() and "upgrade relaykit" in done.error_line()
    assert done.returncode != 0
    assert execute(postgres_url, "SELECT version FROM schema_migrations ORDER BY version") == before
    assert execute(postgres_url, "SELECT count(*) FROM runs") == [(0,)]
    execute(postgres_url, "DELETE FROM schema_migrations WHERE version = 999")


def test_the_database_from_the_environment_that_cannot_be_opened(rk: Relaykit, app: str) -> None:
    (rk.cwd / "a-folder").mkdir()

    done = rk("runs", "list", "--json", env={"RELAYKIT_DATABASE_URL": "sqlite:///a-folder"})

    assert "a-folder" in done.error_line()


# -- unknown runs -----------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["show", "cancel", "replay"])
@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_an_unknown_run_id(rk: Relaykit, recorded: Recorded, action: str, as_json: bool) -> None:
    extra = ("--json",) if as_json else ()

    done = rk("runs", action, "run_doesnotexist", *extra, *DB)

    assert "run_doesnotexist" in done.error_line()
    assert rk.list_runs() == recorded.runs
    recorded.assert_unchanged(rk)


# -- values that are not JSON -----------------------------------------------------------------


def test_a_task_output_that_is_not_json_fails_the_run_naming_the_task(
    rk: Relaykit, app: str
) -> None:
    run = rk.run_json(app, "opaque-task").run_object(exit_code=1)

    assert run["status"] == "failed"
    error = run["error"]
    assert error["task"] == "make-thing"
    assert "'make-thing'" in error["message"]
    assert "JSON" in error["message"]
    (task,) = run["tasks"]
    assert task["key"] == "make-thing"
    assert task["status"] == "errored"
    assert task["output"] is None
    assert "JSON" in task["error"]["message"]
    assert rk.show(run["id"]) == run


def test_a_job_output_that_is_not_json_fails_the_run_naming_the_job(rk: Relaykit, app: str) -> None:
    run = rk.run_json(app, "opaque-output").run_object(exit_code=1)

    assert run["status"] == "failed"
    assert run["output"] is None
    assert run["error"]["type"] == "SerializationError"
    assert "'opaque-output'" in run["error"]["message"]
    assert [(t["key"], t["status"]) for t in run["tasks"]] == [("fine", "completed")]
    assert rk.show(run["id"]) == run


def test_a_nan_task_output_never_breaks_the_json_output(rk: Relaykit, app: str) -> None:
    done = rk.run_json(app, "nan-task")

    run = done.run_object(exit_code=done.returncode)  # strict JSON: NaN is rejected
    assert done.returncode == (0 if run["status"] == "succeeded" else 1)
    if run["status"] != "succeeded":  # failing the run is fine if it names the task
        assert run["status"] == "failed"
        assert "'measure'" in run["error"]["message"]
    assert rk.show(run["id"]) == run


# -- store faults -----------------------------------------------------------------------------

LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(
            ("run", "{app}", "pipeline", "--payload", '{"n": 1}', "--detach"), id="detach"
        ),
        pytest.param(("runs", "cancel", "{queued}"), id="cancel"),
        pytest.param(("runs", "replay", "{queued}"), id="replay"),
    ],
)
def test_a_database_locked_past_its_busy_timeout_is_one_line_and_exit_1(
    rk: Relaykit, app: str, recorded: Recorded, command: tuple[str, ...]
) -> None:
    queued = next(r["id"] for r in recorded.runs if r["status"] == "queued")
    args = [a.replace("{app}", app).replace("{queued}", queued) for a in command]
    url = "sqlite:///relaykit.db?busy_timeout=200"
    with subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(rk.cwd / "relaykit.db"), "3"],
        stdout=subprocess.PIPE,
        text=True,
    ) as locker:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        done = rk(*args, "--database", url)
        locker.communicate(timeout=30)

    assert done.returncode == 1, done.describe()
    assert done.stdout.strip() == ""
    [line] = done.stderr.splitlines()
    assert "relaykit.db" in line and "locked" in line and "Traceback" not in line
    recorded.assert_unchanged(rk)


def test_db_migrate_on_a_damaged_file_says_so_instead_of_up_to_date(rk: Relaykit, app: str) -> None:
    for i in range(3):
        rk.detach(app, "pipeline", {"n": i})
    with (rk.cwd / "relaykit.db").open("r+b") as f:
        f.seek(4096 * 3)  # a table page, not the header
        f.write(b"\xff" * 64)

    done = rk("db", "migrate", *DB)

    line = done.error_line()
    assert "relaykit.db" in line and "damaged" in line
    assert "up to date" not in done.stdout
