"""Repository-wide pytest defaults: the whole suite runs on every core (pytest-xdist).

``pytest`` without paths (the README's command, CI) means ``-n auto --dist loadfile``: one
worker per core, each test file on one worker, so a module's fixtures (the packaging test's
wheels and venv) are made once. ``pytest PATH...`` (a targeted run) stays in one process, where
starting workers would cost more than it saves; add ``-n auto`` to spread it. A command line
that chooses keeps its choice: ``-n 0``, ``-n 4``, ``--dist load``; ``-p no:xdist`` runs
without the plugin. This is a hook rather than ``addopts`` because ``-n`` in ``addopts`` makes
``-p no:xdist`` an error (an unknown option). Runs that cannot be distributed stay in one
process: ``--pdb`` (xdist refuses it), ``-s`` (workers' output is not shown live) and
``--collect-only``.

Each worker is its own pytest session: its own PostgreSQL database (``tests/pg.py``), its own
``tmp_path`` root and free ports (``tests/serving.py``).
"""

from __future__ import annotations

import os

import pytest


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which turns "auto" into a count
def pytest_cmdline_main(config: pytest.Config) -> None:
    """``-n auto --dist loadfile`` for a whole-suite run when nothing else was chosen."""
    if not config.pluginmanager.hasplugin("xdist"):
        return  # -p no:xdist, or not installed
    if hasattr(config, "workerinput") or "PYTEST_XDIST_WORKER" in os.environ:
        return  # inside a worker: it runs what the controller sends
    option = config.option
    chose = option.numprocesses is not None or option.tx or option.dist != "no"
    targeted = config.args_source is pytest.Config.ArgsSource.ARGS
    cannot = option.usepdb or option.collectonly or option.capture == "no"
    if chose or targeted or cannot:
        return
    option.numprocesses = "auto"
    option.dist = "loadfile"
