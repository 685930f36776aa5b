"""The in-process ``rk(...)`` (tests/acceptance/inprocess.py) behaves as the installed script in
a subprocess: same exit code, stdout and stderr; nothing leaks into the test's interpreter or
from one call into the next."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit

PROBE_APP = """\
import logging
import os
import sys

import helpers
from relaykit import Client

client = Client(id="probe")


@client.define_job(id="probe", version="1.0.0")
def probe(payload, io, ctx):
    logging.getLogger("probe").warning("a warning from the job")
    return {
        "helper": helpers.VALUE,
        "cwd": os.getcwd(),
        "env": os.environ.get("RK_PROBE"),
        "argv0": os.path.basename(sys.argv[0]),
    }
"""


def _probe_folder(root: Path, value: str) -> Path:
    """A folder with the probe app and a sibling ``helpers`` module holding ``value``."""
    root.mkdir()
    (root / "app.py").write_text(PROBE_APP, encoding="utf-8")
    (root / "helpers.py").write_text(f"VALUE = {value!r}\n", encoding="utf-8")
    return root


def test_apps_in_two_folders_each_see_their_own_modules(
    make_relaykit: Callable[..., Relaykit], tmp_path: Path
) -> None:
    path_before, env_before, cwd_before = sys.path[:], dict(os.environ), os.getcwd()
    runs = []
    for value in ("first", "second"):
        folder = _probe_folder(tmp_path / value, value)
        rk = make_relaykit(folder, in_process=True)
        done = rk("run", "app.py", "probe", "--json", env={"RK_PROBE": value})
        runs.append((folder, done.run_object(exit_code=0)["output"], done.stderr))

    for (folder, output, stderr), value in zip(runs, ("first", "second"), strict=True):
        assert output == {"helper": value, "cwd": str(folder), "env": value, "argv0": "relaykit"}
        assert "a warning from the job" in stderr  # Python's last-resort handler, as in a process
    assert "helpers" not in sys.modules and "app" not in sys.modules
    assert (sys.path, dict(os.environ), os.getcwd()) == (path_before, env_before, cwd_before)


def test_the_environment_is_exactly_the_subprocess_one(
    make_relaykit: Callable[..., Relaykit], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RK_PROBE", "from the test process")
    rk = make_relaykit(_probe_folder(tmp_path / "app", "x"), in_process=True)
    rk.env = {k: v for k, v in rk.env.items() if k != "RK_PROBE"}  # as a test may narrow it

    run = rk("run", "app.py", "probe", "--json").run_object(exit_code=0)

    assert run["output"]["env"] is None
    assert os.environ["RK_PROBE"] == "from the test process"


def test_streams_signals_and_logging_are_given_back(
    make_relaykit: Callable[..., Relaykit], tmp_path: Path
) -> None:
    handlers = logging.getLogger().handlers[:]
    signals = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    streams = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__, sys.stdin)
    rk = make_relaykit(_probe_folder(tmp_path / "app", "x"), in_process=True)

    rk("run", "app.py", "probe", "--json").run_object(exit_code=0)

    assert logging.getLogger().handlers == handlers
    assert {sig: signal.getsignal(sig) for sig in signals} == signals
    assert (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__, sys.stdin) == streams


# Commands whose whole output is the same on every run: both ways must print the same bytes.
SAME_OUTPUT = [
    pytest.param(("--help",), id="help"),
    pytest.param(("run", "--help"), id="run-help"),
    pytest.param(("--version",), id="version"),
    pytest.param(("runs", "list", "--json", "--database", "sqlite:///relaykit.db"), id="list"),
    pytest.param(("runs", "list", "--database", "sqlite:///relaykit.db"), id="list-human"),
    pytest.param(("keys", "list", "--database", "sqlite:///relaykit.db"), id="keys-human"),
    pytest.param(("jobs", "app.py", "--json"), id="jobs"),
    pytest.param(("jobs", "app.py"), id="jobs-human"),
    pytest.param(("run", "app.py", "no-such-job"), id="unknown-job"),
    pytest.param(("run", "app.py", "pipeline", "--payload", "{"), id="bad-payload"),
    pytest.param(("run", "missing.py", "pipeline"), id="missing-app"),
    pytest.param(("runs", "show", "run_x", "--database", "sqlite:///a-dir"), id="bad-db"),
    pytest.param(("frobnicate",), id="unknown-command"),
]


@pytest.mark.parametrize("args", SAME_OUTPUT)
def test_in_process_and_subprocess_print_the_same(
    make_relaykit: Callable[..., Relaykit], app_source: str, tmp_path: Path, args: tuple[str, ...]
) -> None:
    results = []
    for mode in ("subprocess", "in-process"):
        folder = tmp_path / mode
        folder.mkdir()
        (folder / "app.py").write_text(app_source, encoding="utf-8")
        (folder / "a-dir").mkdir()
        done = make_relaykit(folder, in_process=mode == "in-process")(*args)
        results.append((done.returncode, done.stdout, done.stderr.replace(str(folder), "<cwd>")))

    subprocess_result, in_process_result = results
    assert in_process_result == subprocess_result
