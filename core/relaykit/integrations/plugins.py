"""Plugins: the pluggy ``PluginManager`` a ``Client`` owns, and how plugins are found.

Plugins are distributions that declare an entry point in the group ``relaykit``. Each is loaded
on its own: one that fails to import, has malformed hooks or raises while registering its
integrations is reported (``Plugins.errors``, ``relaykit plugins``) and left out, and the others
still load. Two environment variables choose among the installed ones (entry-point or
distribution names, comma-separated):

- ``RELAYKIT_PLUGINS=github,slack``: load only these (an allow list);
- ``RELAYKIT_DISABLE_PLUGINS=openai``: never load these (a block list; wins over the allow list).

relaykit's own task execution is the built-in plugin ``relaykit.builtin``, registered through
the same hooks as any other.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, final

if TYPE_CHECKING:
    # pluggy and importlib.metadata are imported when the first plugin manager is made (the
    # first task, or `relaykit plugins`), not by `import relaykit`.
    import importlib.metadata

    import pluggy

    from .base import Integration

ENTRY_POINT_GROUP: Final = "relaykit"
ALLOW_ENV: Final = "RELAYKIT_PLUGINS"
BLOCK_ENV: Final = "RELAYKIT_DISABLE_PLUGINS"
BUILTIN: Final = "relaykit.builtin"

_log = logging.getLogger("relaykit.plugins")


@final
class _LazyHookimpl:
    """``relaykit.hookimpl``: calls pluggy's ``HookimplMarker("relaykit")`` (``_hookimpl``),
    imported on the first call. pluggy imports ``importlib.metadata`` (~15 ms), which
    ``import relaykit`` need not pay; type checkers see the pluggy marker itself."""

    __slots__ = ()

    def __call__(self, *args: Any, **options: Any) -> Any:
        from .hookimpl import hookimpl

        return hookimpl(*args, **options)

    def __repr__(self) -> str:
        return "relaykit.hookimpl"


hookimpl: Final = _LazyHookimpl()
"""Marks a plugin's hook implementations: ``@relaykit.hookimpl`` (see ``relaykit.hookspecs``)."""


@final
@dataclass(frozen=True, slots=True)
class TaskCall:
    """One execution of a task, as the ``relaykit_wrap_task`` hook sees it.

    ``params`` is the recorded (JSON, secrets redacted) parameters; ``integration`` the id of
    the integration whose task this is (None for ``io.run_task``). ``execute()`` returns the
    awaitable that runs the task's function: only the built-in implementation calls it.
    ``annotate(**properties)`` adds properties recorded with this execution's outcome (a
    trace id; ``relaykit.testing`` marks a mocked task with it).
    """

    run_id: str
    job_id: str
    key: str
    name: str
    attempt: int
    params: str | None = None
    integration: str | None = None
    icon: str | None = None
    properties: Mapping[str, Any] | None = None
    _execute: Callable[[], Awaitable[Any]] = field(default=lambda: _nothing(), repr=False)
    _annotate: Callable[[Mapping[str, Any]], None] = field(default=lambda _: None, repr=False)

    def execute(self) -> Awaitable[Any]:
        """The awaitable that runs the task's function (for the innermost implementation)."""
        return self._execute()

    def annotate(self, **properties: Any) -> None:
        """Add JSON ``properties`` to the task, recorded with how this execution ends."""
        self._annotate(properties)


async def _nothing() -> None:
    return None


@final
@dataclass(frozen=True, slots=True)
class AttemptEnd:
    """How an attempt ended, as ``relaykit_wrap_attempt`` wrappers see it.

    ``status`` is the run status the attempt recorded (``waiting`` when it suspended; a
    ``RunStatus``, a ``str``); ``error`` the recorded error object, if any; ``lease_lost``
    says the attempt lost its run to another (its lease expired, it was canceled) and
    recorded nothing.
    """

    status: str
    error: Mapping[str, Any] | None = None
    lease_lost: bool = False


@final
@dataclass(frozen=True, slots=True)
class AttemptCall:
    """One attempt of a run, as the ``relaykit_wrap_attempt`` hook sees it.

    ``attempt`` counts the claims of the run (1 for the first); ``started_at`` is when the run
    first started (epoch seconds); ``trace_context`` what ``relaykit_trace_context`` gave
    where the run was started. ``execute()`` runs the attempt: only the built-in
    implementation calls it.
    """

    run_id: str
    job_id: str
    job_version: str
    attempt: int
    event_id: str | None = None
    event_name: str | None = None
    parent_run_id: str | None = None
    started_at: float | None = None
    trace_context: Mapping[str, str] | None = None
    _execute: Callable[[], Awaitable[AttemptEnd]] = field(default=lambda: _no_attempt(), repr=False)

    def execute(self) -> Awaitable[AttemptEnd]:
        """The awaitable that executes the attempt (for the innermost implementation)."""
        return self._execute()


async def _no_attempt() -> AttemptEnd:
    return AttemptEnd("running")


@final
@dataclass(frozen=True, slots=True)
class PluginInfo:
    """An installed plugin, as ``relaykit plugins`` lists it."""

    name: str
    distribution: str | None
    version: str | None
    integrations: tuple[str, ...]
    hooks: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        """This plugin as the ``relaykit plugins --json`` contract's object."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "integrations": list(self.integrations),
            "hooks": list(self.hooks),
        }


@final
@dataclass(frozen=True, slots=True)
class PluginProblem:
    """A plugin that was not loaded, and why (one line)."""

    name: str
    distribution: str | None
    error: str

    def as_json(self) -> dict[str, Any]:
        """This problem as JSON."""
        return {"name": self.name, "distribution": self.distribution, "error": self.error}


def make_plugin_manager() -> pluggy.PluginManager:
    """A new ``PluginManager`` with relaykit's hook specs and its built-in plugin registered."""
    import pluggy

    from .. import hookspecs
    from .hookimpl import Builtin

    pm = pluggy.PluginManager("relaykit")
    pm.add_hookspecs(hookspecs)
    pm.register(Builtin(), name=BUILTIN)
    return pm


def _names(raw: str | None) -> frozenset[str] | None:
    if raw is None or not raw.strip():
        return None
    return frozenset(n.strip().lower() for n in raw.split(",") if n.strip())


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


class Plugins:
    """The plugins of one ``Client`` (``client.plugins``): a pluggy ``PluginManager`` made by
    ``make_plugin_manager`` and filled from the ``relaykit`` entry points on first use.

    ``entry_points=False`` loads no installed plugin (only the built-in one and those passed to
    ``register``); ``select`` (an entry point's name -> whether to load it) narrows the
    installed ones further, after the allow and block lists (the CLI imports only the plugins
    that may add commands); ``environ`` replaces ``os.environ`` for the allow and block lists.
    """

    def __init__(
        self,
        *,
        entry_points: bool = True,
        environ: Mapping[str, str] | None = None,
        select: Callable[[str], bool] | None = None,
    ) -> None:
        self._entry_points = entry_points
        self._select = select
        self._environ = os.environ if environ is None else environ
        self._pm: pluggy.PluginManager | None = None
        self._dists: dict[str, tuple[str, str]] = {}
        self._integrations: dict[str, type[Integration]] = {}
        self._owners: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self.errors: list[PluginProblem] = []

    @property
    def loaded(self) -> bool:
        """Whether the installed plugins have been imported already."""
        return self._pm is not None

    def load(self) -> None:
        """Import and register the installed plugins now (once). Engines call this in a
        thread when they start, before they claim anything: importing a plugin's vendor SDK
        can take seconds, which must never stall an event loop that holds leases."""
        _ = self.manager

    @property
    def manager(self) -> pluggy.PluginManager:
        """The pluggy ``PluginManager`` (loading the installed plugins the first time)."""
        if self._pm is None:
            with self._lock:  # ``load`` may run in a thread while the loop asks too
                if self._pm is None:
                    pm = make_plugin_manager()
                    if self._entry_points:
                        self._load_entry_points(pm)
                    self._pm = pm
        return self._pm

    @property
    def hook(self) -> Any:
        """The hook caller (``plugins.hook.relaykit_wrap_task(task=...)``)."""
        return self.manager.hook

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register a plugin object or module in-process (tests, an app's own hooks)."""
        pm = self.manager
        plugin_name = pm.register(plugin, name=name)
        if plugin_name is not None and not self._collect(pm, plugin_name):
            pm.unregister(name=plugin_name)

    def unregister(self, name: str) -> None:
        """Remove the plugin registered as ``name`` (nothing happens when there is none)."""
        pm = self.manager
        if pm.has_plugin(name):
            pm.unregister(name=name)
        self._owners.pop(name, None)

    def integrations(self) -> dict[str, type[Integration]]:
        """The registered ``Integration`` classes by slug."""
        _ = self.manager
        return dict(self._integrations)

    def integration(self, slug: str) -> type[Integration] | None:
        """The registered ``Integration`` class called ``slug``, if any."""
        return self.integrations().get(slug)

    def list(self) -> list[PluginInfo]:
        """The loaded plugins (the built-in one excluded), by name."""
        pm = self.manager
        found = []
        for name, plugin in pm.list_name_plugin():
            if name == BUILTIN or plugin is None:
                continue
            hooks = sorted(c.name for c in pm.get_hookcallers(plugin) or ())
            dist, version = self._dists.get(name, (None, None))
            found.append(
                PluginInfo(name, dist, version, tuple(self._owners.get(name, ())), tuple(hooks))
            )
        return sorted(found, key=lambda p: p.name)

    async def wrap_task(self, call: TaskCall) -> Any:
        """Execute a task through every ``relaykit_wrap_task`` implementation."""
        if len(self.hook.relaykit_wrap_task.get_hookimpls()) == 1:
            return await call.execute()  # only the built-in one: skip building the hook chain
        return await self.hook.relaykit_wrap_task(task=call)

    def wraps_attempts(self) -> bool:
        """Whether a plugin implements ``relaykit_wrap_attempt`` (besides the built-in one)."""
        return len(self.hook.relaykit_wrap_attempt.get_hookimpls()) > 1

    async def wrap_attempt(self, call: AttemptCall) -> AttemptEnd:
        """Execute an attempt through every ``relaykit_wrap_attempt`` implementation."""
        if not self.wraps_attempts():
            return await call.execute()
        result: AttemptEnd = await self.hook.relaykit_wrap_attempt(attempt=call)
        return result

    def trace_context(self) -> dict[str, str] | None:
        """What the plugins carry from here to the attempts of a run started here (None:
        nothing; no plugin implements ``relaykit_trace_context`` or it gave nothing)."""
        caller = self.hook.relaykit_trace_context
        if not caller.get_hookimpls():
            return None
        found = caller()
        return {str(k): str(v) for k, v in found.items()} if found else None

    def queue_depth_hook(self) -> Callable[[Mapping[str, Mapping[str, int]]], None] | None:
        """What hands queue depths to ``relaykit_queue_depth`` (None when no plugin
        implements it, so a worker does not count runs for nobody)."""
        caller = self.hook.relaykit_queue_depth
        if not caller.get_hookimpls():
            return None

        def report(counts: Mapping[str, Mapping[str, int]]) -> None:
            caller(counts=counts)

        return report

    def request_hooks(self) -> tuple[Callable[[Any], Awaitable[None]], ...]:
        """httpx2 ``request`` event hooks calling ``relaykit_http_request`` (none when no
        plugin implements it)."""
        caller = self.hook.relaykit_http_request
        if not caller.get_hookimpls():
            return ()

        async def on_request(request: Any) -> None:
            caller(request=request)

        return (on_request,)

    # -- loading ----------------------------------------------------------------------------

    def _load_entry_points(self, pm: pluggy.PluginManager) -> None:
        allow = _names(self._environ.get(ALLOW_ENV))
        block = _names(self._environ.get(BLOCK_ENV)) or frozenset()
        seen: set[str] = set()
        for ep in _entry_points():
            dist = ep.dist.name if ep.dist is not None else None
            names = {ep.name.lower()} | ({dist.lower()} if dist else set())
            seen |= names
            if names & block or (allow is not None and not names & allow):
                pm.set_blocked(ep.name)  # pluggy refuses it from now on, whoever registers it
                continue
            if pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
                continue
            if self._select is not None and not self._select(ep.name):
                continue
            self._load_one(pm, ep, dist)
        for missing in sorted((allow or frozenset()) - seen):
            self._problem(missing, None, f"{ALLOW_ENV} names {missing!r}, which is not installed")

    def _load_one(
        self, pm: pluggy.PluginManager, ep: importlib.metadata.EntryPoint, dist: str | None
    ) -> None:
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a broken plugin must not stop the others
            self._problem(ep.name, dist, _one_line(exc))
            return
        if ep.dist is not None:
            self._dists[ep.name] = (ep.dist.name, ep.dist.version)
        if not self._collect(pm, ep.name):
            pm.unregister(name=ep.name)

    def _collect(self, pm: pluggy.PluginManager, name: str) -> bool:
        """Call ``name``'s own ``relaykit_register_integrations``; False when it fails."""
        from .base import Integration

        plugin = pm.get_plugin(name)
        found: list[type[Integration]] = []

        def register(cls: type[Integration]) -> None:
            if not (isinstance(cls, type) and issubclass(cls, Integration)):
                raise TypeError(f"register() takes an Integration subclass, got {cls!r}")
            found.append(cls)

        impls = pm.hook.relaykit_register_integrations.get_hookimpls()
        try:
            for impl in impls:
                if impl.plugin is plugin:
                    impl.function(register=register)
        except Exception as exc:  # isolate: this plugin's integrations are all or nothing
            self._problem(name, self._dists.get(name, (None, None))[0], _one_line(exc))
            return False
        for cls in found:
            self._integrations[cls.slug] = cls
        self._owners[name] = sorted(cls.slug for cls in found)
        return True

    def _problem(self, name: str, dist: str | None, error: str) -> None:
        _log.warning("relaykit plugin %s was not loaded: %s", name, error)
        self.errors.append(PluginProblem(name, dist, error))


def _entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    import importlib.metadata

    return sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
