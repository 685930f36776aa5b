"""Plugin loading: entry points, isolation of broken plugins, the allow and block lists, and
the task-wrapping hook's order around the built-in implementation."""

from __future__ import annotations

import asyncio
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.plugin_dists import (
    IMPORT_ERROR_PLUGIN,
    REGISTER_ERROR_PLUGIN,
    good_source,
    make_dist,
)

import relaykit
from relaykit import Plugins, TaskCall


def _install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, specs: dict[str, str]
) -> dict[str, str]:
    """Install a fake distribution ``relaykit-<name>`` per entry; return name -> module."""
    folder = tmp_path / "site"
    modules = {}
    for name, source in specs.items():
        module = f"rk_test_{name}_{secrets.token_hex(4)}"
        make_dist(
            folder,
            dist=f"relaykit-{name}",
            version="1.2.3",
            name=name,
            module=module,
            source=source,
        )
        modules[name] = module
    monkeypatch.syspath_prepend(str(folder))
    return modules


def test_installed_plugins_are_listed_with_version_integrations_and_hooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(tmp_path, monkeypatch, {"alpha": good_source("Alpha", "alpha")})
    plugins = Plugins(environ={})
    [info] = [p for p in plugins.list() if p.name == "alpha"]
    assert info.distribution == "relaykit-alpha"
    assert info.version == "1.2.3"
    assert info.integrations == ("alpha",)
    assert info.hooks == ("relaykit_register_integrations", "relaykit_wrap_task")
    cls = plugins.integration("alpha")
    assert cls is not None and issubclass(cls, relaykit.Integration)
    assert plugins.errors == []


def test_a_broken_plugin_is_reported_and_the_others_still_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(
        tmp_path,
        monkeypatch,
        {
            "alpha": good_source("Alpha", "alpha"),
            "broken": IMPORT_ERROR_PLUGIN,
            "confused": REGISTER_ERROR_PLUGIN,
            "omega": good_source("Omega", "omega"),
        },
    )
    plugins = Plugins(environ={})
    names = [p.name for p in plugins.list()]
    assert "alpha" in names and "omega" in names
    assert "broken" not in names and "confused" not in names
    problems = {p.name: p for p in plugins.errors}
    assert set(problems) == {"broken", "confused"}
    assert problems["broken"].distribution == "relaykit-broken"
    assert "ImportError: this plugin needs libfoo" in problems["broken"].error
    assert "RuntimeError: cannot register: misconfigured" in problems["confused"].error
    assert set(plugins.integrations()) >= {"alpha", "omega"}


@pytest.mark.parametrize(
    ("environ", "loaded"),
    [
        ({}, {"alpha", "beta", "gamma"}),  # no lists: everything installed
        ({"RELAYKIT_PLUGINS": "alpha,gamma"}, {"alpha", "gamma"}),  # allow list by entry point
        ({"RELAYKIT_PLUGINS": "relaykit-beta"}, {"beta"}),  # ... or by distribution name
        ({"RELAYKIT_DISABLE_PLUGINS": "beta"}, {"alpha", "gamma"}),  # block list
        (
            {"RELAYKIT_PLUGINS": "alpha,beta", "RELAYKIT_DISABLE_PLUGINS": "beta"},
            {"alpha"},
        ),  # block wins
        ({"RELAYKIT_PLUGINS": " Alpha , "}, {"alpha"}),  # spaces, case and empty items ignored
    ],
)
def test_allow_and_block_lists(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    environ: dict[str, str],
    loaded: set[str],
) -> None:
    _install(
        tmp_path,
        monkeypatch,
        {n: good_source(n.title(), n) for n in ("alpha", "beta", "gamma")},
    )
    plugins = Plugins(environ=environ)
    assert {p.name for p in plugins.list()} & {"alpha", "beta", "gamma"} == loaded
    assert set(plugins.integrations()) & {"alpha", "beta", "gamma"} == loaded


def test_an_allowed_plugin_that_is_not_installed_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(tmp_path, monkeypatch, {"alpha": good_source("Alpha", "alpha")})
    plugins = Plugins(environ={"RELAYKIT_PLUGINS": "alpha,nosuch"})
    assert [p.name for p in plugins.list()] == ["alpha"]
    assert [(e.name, e.error) for e in plugins.errors] == [
        ("nosuch", "RELAYKIT_PLUGINS names 'nosuch', which is not installed")
    ]


def test_each_client_owns_its_plugin_manager() -> None:
    a, b = relaykit.Client("a"), relaykit.Client("b")
    assert a.plugins.manager is not b.plugins.manager
    assert a.plugins.manager.get_plugin("relaykit.builtin") is not None


def test_wrappers_nest_around_the_builtin_execution_once_each() -> None:
    seen: list[str] = []

    class Outer:
        @relaykit.hookimpl(wrapper=True)
        def relaykit_wrap_task(self, task: TaskCall) -> Any:
            inner = yield

            async def wrapped() -> Any:
                seen.append(f"outer before {task.key}")
                value = await inner
                seen.append("outer after")
                return {"outer": value}

            return wrapped()

    class Inner:
        @relaykit.hookimpl(wrapper=True)
        def relaykit_wrap_task(self, task: TaskCall) -> Any:
            inner = yield

            async def wrapped() -> Any:
                seen.append("inner before")
                return {"inner": await inner}

            return wrapped()

    async def work() -> str:
        seen.append("work")
        return "done"

    plugins = Plugins(entry_points=False)
    plugins.register(Inner(), name="inner")
    plugins.register(Outer(), name="outer")
    call = TaskCall(run_id="r", job_id="j", key="k", name="n", attempt=1, _execute=work)
    assert asyncio.run(plugins.wrap_task(call)) == {"outer": {"inner": "done"}}
    assert seen == ["outer before k", "inner before", "work", "outer after"]


def test_register_takes_only_integration_classes() -> None:
    class Bad:
        @relaykit.hookimpl
        def relaykit_register_integrations(self, register: Any) -> None:
            register(object)

    plugins = Plugins(entry_points=False)
    plugins.register(Bad(), name="bad")
    assert [p.name for p in plugins.list()] == []
    [problem] = plugins.errors
    assert problem.name == "bad"
    assert "register() takes an Integration subclass" in problem.error


#: A plugin whose import takes a while (a vendor SDK, say), and that records where it ran.
SLOW_PLUGIN = """
import threading
import time

import relaykit

STARTED = time.monotonic()
time.sleep(0.5)
ENDED = time.monotonic()
IMPORTED_IN = threading.current_thread().name


@relaykit.hookimpl
def relaykit_register_integrations(register):
    pass
"""


def test_an_engine_imports_the_plugins_in_a_thread_before_it_claims_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Importing a plugin must never stall the loop that keeps leases alive: the engine
    imports them in a thread when it starts, not inside the first task's hook."""
    modules = _install(tmp_path, monkeypatch, {"slow": SLOW_PLUGIN})
    client = relaykit.Client("plugins", database_url=f"sqlite:///{tmp_path / 'rk.db'}")
    ticks: list[float] = []

    async def go() -> None:
        loop = asyncio.get_running_loop()

        async def ticker() -> None:
            while True:
                ticks.append(loop.time())
                await asyncio.sleep(0.02)

        beat = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        engine = await client.engine()
        assert client.plugins.loaded  # before anything is claimed or executed
        beat.cancel()
        await engine.close()
        await client.close()

    asyncio.run(go())
    plugin = sys.modules[modules["slow"]]
    assert plugin.IMPORTED_IN != "MainThread"
    # the loop kept running while the plugin imported (loop.time() is time.monotonic())
    assert any(plugin.STARTED < t < plugin.ENDED for t in ticks), (plugin.STARTED, ticks)
