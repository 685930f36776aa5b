"""Run the ``relaykit`` command inside the test's interpreter, as a fresh process would see it.

Starting the installed script costs about a second per call on a small machine (a new
interpreter importing pydantic, rich, click and relaykit); most acceptance tests make several
calls. ``invoke`` runs ``relaykit.cli:cli`` with click's ``CliRunner`` instead, and puts back
what a separate process would not share with the test, before and after each call:

- ``os.environ`` becomes exactly the environment the subprocess would get, and is restored
  whole afterwards (also what the command itself changed); the current directory is the
  command's; ``sys.argv`` is the command line;
- ``sys.path`` is the script's own (the installed script's folder, ``$PYTHONPATH``, the
  interpreter's site folders), not pytest's ``pythonpath``; the import caches are invalidated;
- every module imported during the call that is not part of an installed distribution, the
  standard library or relaykit itself (the APP file, its siblings, plugins on ``$PYTHONPATH``) is
  dropped from ``sys.modules`` afterwards, and any module it replaced is put back: two tests
  loading different ``app.py`` files never see each other's modules;
- stdout and stderr are the runner's, including ``sys.__stdout__`` (``--json`` writes there);
  relaykit's rich consoles are set up as at start-up in that environment (width from
  ``$COLUMNS``, no colour on a pipe); click's help wraps at ``$COLUMNS`` as in a process;
- logging has no handler on the root logger during the call, so warnings reach stderr through
  Python's last-resort handler exactly as in a process with no logging configured;
- the SIGINT/SIGTERM handlers are restored (asyncio leaves them at their defaults);
- an uncaught exception is exit code 1 with its traceback on stderr, as Python prints it;
- a thread the command started and left running is an error: in a process it would keep the
  interpreter from exiting (non-daemon) or die unnoticed at exit (daemon).

What stays shared: modules of installed packages and of relaykit already imported (as in any
long-lived interpreter), and pytest's warning filters: a warning inside the command is an
error here, where a process would print it. Signals, ``--detach``-then-worker flows across
processes, crashes and servers are tested with real subprocesses (``pytest.mark.subprocess``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import click.formatting
from click.testing import CliRunner
from rich.console import Console

#: The rich ``Console`` attributes that ``Console()`` derives from the environment and the
#: stream at construction; the rest comes from its arguments.
_CONSOLE_STATE = (
    "_width",
    "_height",
    "_color_system",
    "_force_terminal",
    "no_color",
    "is_jupyter",
    "legacy_windows",
)
#: How long a thread the command started may take to finish after the command returned.
_THREAD_GRACE_SECONDS = 2.0


@cache
def _base_sys_path(python: str) -> tuple[str, ...]:
    """``sys.path`` of a fresh ``python`` without ``$PYTHONPATH``, minus the script's folder."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [python, "-c", "import json, sys; print(json.dumps(sys.path[1:]))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    paths: list[str] = json.loads(out)
    return tuple(paths)


def script_sys_path(exe: Path, environ: Mapping[str, str]) -> list[str]:
    """``sys.path`` of the script ``exe`` started with ``environ``."""
    extra = [p for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return [str(exe.resolve().parent), *extra, *_base_sys_path(sys.executable)]


@cache
def _library_roots() -> tuple[Path, ...]:
    """Where modules that may stay imported between calls live: the interpreter's prefixes
    (standard library, site-packages) and relaykit's own package."""
    import relaykit

    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return (*(Path(p).resolve() for p in prefixes), Path(relaykit.__file__).resolve().parent)


def _is_library(module: ModuleType) -> bool:
    where = getattr(module, "__file__", None)
    if where is None:
        paths = list(getattr(module, "__path__", None) or [])
        if not paths:
            return True  # built-in or frozen
        where = paths[0]
    resolved = Path(where).resolve()
    return any(resolved.is_relative_to(root) for root in _library_roots())


@contextlib.contextmanager
def _modules_restored() -> Iterator[None]:
    """Drop the non-library modules imported inside the block; put back those it replaced."""
    before = dict(sys.modules)
    try:
        yield
    finally:
        for name, module in list(sys.modules.items()):
            old = before.get(name)
            if module is old or _is_library(module):
                continue
            if old is None:
                del sys.modules[name]
            else:
                sys.modules[name] = old
        for name, old in before.items():
            sys.modules.setdefault(name, old)


@contextlib.contextmanager
def _process_state(
    exe: Path, args: Sequence[str], cwd: Path, environ: Mapping[str, str]
) -> Iterator[None]:
    """cwd, sys.path, sys.argv, signal handlers and logging as a fresh process has them."""
    saved_cwd = os.getcwd()
    saved_path = sys.path[:]
    saved_argv = sys.argv[:]
    saved_signals = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    os.chdir(cwd)
    sys.path[:] = script_sys_path(exe, environ)
    importlib.invalidate_caches()
    sys.argv = [str(exe), *args]
    root.handlers = []  # warnings reach stderr through logging.lastResort, as in a process
    root.setLevel(logging.WARNING)
    try:
        with _modules_restored():
            yield
    finally:
        root.handlers, root.level = saved_handlers, saved_level
        sys.argv = saved_argv
        sys.path[:] = saved_path
        importlib.invalidate_caches()
        for sig, handler in saved_signals.items():
            signal.signal(sig, handler)
        os.chdir(saved_cwd)


@contextlib.contextmanager
def _environ_exactly(environ: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` is ``environ`` for the block, then exactly what it was before."""
    saved = dict(os.environ)
    try:
        yield  # CliRunner applies ``environ`` (see ``invoke``)
    finally:
        if dict(os.environ) != saved:
            os.environ.clear()
            os.environ.update(saved)


def _consoles() -> tuple[Console, ...]:
    from relaykit.cli import _common

    return (_common.stdout, _common.stderr)


class _ProcessLikeRunner(CliRunner):
    """``CliRunner`` whose isolation also covers what a process has of its own."""

    @contextlib.contextmanager
    def isolation(
        self,
        input: str | bytes | Any | None = None,
        env: Mapping[str, str | None] | None = None,
        color: bool = False,
    ) -> Iterator[tuple[io.BytesIO, io.BytesIO, io.BytesIO]]:
        """Streams, environment and prompts as ``CliRunner`` isolates them, plus the real
        stdout/stderr, click's help width and relaykit's rich consoles."""
        with super().isolation(input=input, env=env, color=color) as streams:
            saved_std = (sys.__stdout__, sys.__stderr__)
            saved_width = click.formatting.FORCED_WIDTH
            consoles = _consoles()
            saved_consoles = [{a: getattr(c, a) for a in _CONSOLE_STATE} for c in consoles]
            # print_json writes to sys.__stdout__ (the process's real stdout).
            setattr(sys, "__stdout__", sys.stdout)  # noqa: B010 -- Final in typeshed
            setattr(sys, "__stderr__", sys.stderr)  # noqa: B010
            click.formatting.FORCED_WIDTH = None  # CliRunner forces 80; a process reads COLUMNS
            for console in consoles:
                fresh = Console(stderr=console.stderr)  # as made at import, in this process
                for attr in _CONSOLE_STATE:
                    setattr(console, attr, getattr(fresh, attr))
            try:
                yield streams
            finally:
                for console, state in zip(consoles, saved_consoles, strict=True):
                    for attr, value in state.items():
                        setattr(console, attr, value)
                click.formatting.FORCED_WIDTH = saved_width
                setattr(sys, "__stdout__", saved_std[0])  # noqa: B010
                setattr(sys, "__stderr__", saved_std[1])  # noqa: B010


def _text(data: bytes) -> str:
    """Bytes as ``subprocess.run(text=True)`` decodes them (universal newlines)."""
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace").read()


def _started_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    deadline = time.monotonic() + _THREAD_GRACE_SECONDS
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for thread in left:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [t for t in left if t.is_alive()]


def invoke(
    exe: Path,
    args: Sequence[str],
    *,
    cwd: Path,
    environ: Mapping[str, str],
    input: str | None = None,
) -> tuple[int, str, str]:
    """Run ``relaykit ARGS`` in this interpreter; return (exit code, stdout, stderr)."""
    from relaykit.cli import cli

    # The process state swapped here is global: another thread of the test (a server it
    # runs, an event loop waiting on this call) would see it change under it.
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(
            "rk() runs relaykit in-process only on the main thread (it swaps the process's "
            "streams, directory and environment); mark the test @pytest.mark.subprocess"
        )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "rk() cannot run relaykit in-process inside a running event loop (the command "
            "starts its own); mark the test @pytest.mark.subprocess"
        )
    overrides: dict[str, str | None] = {k: None for k in os.environ if k not in environ}
    overrides.update(environ)
    threads = set(threading.enumerate())
    runner = _ProcessLikeRunner()
    with _environ_exactly(environ), _process_state(exe, args, cwd, environ):
        result = runner.invoke(
            cli, list(args), input=input, env=overrides, prog_name="relaykit", catch_exceptions=True
        )
    stderr = _text(result.stderr_bytes)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))  # as Python prints it
    leftover = _started_threads(threads)
    if leftover:
        names = ", ".join(f"{t.name} (daemon={t.daemon})" for t in leftover)
        raise AssertionError(
            f"relaykit {' '.join(args)} left threads running after it returned: {names}"
        )
    return result.exit_code, _text(result.stdout_bytes), stderr
