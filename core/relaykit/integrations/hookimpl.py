"""``hookimpl``, the marker of plugin hook implementations, and relaykit's built-in plugin.

Apart from ``_plugins`` so that pluggy (which imports ``importlib.metadata``, ~15 ms) is
loaded only when a plugin manager is made or a plugin marks a hook: ``relaykit.hookimpl`` is
a stand-in (``_plugins._LazyHookimpl``) that imports this module on its first call.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Final

import pluggy

if TYPE_CHECKING:
    from .plugins import TaskCall

hookimpl: Final = pluggy.HookimplMarker("relaykit")
"""Marks a plugin's hook implementations: ``@relaykit.hookimpl`` (see ``relaykit.hookspecs``)."""


class Builtin:
    """relaykit's own hook implementations (the innermost task execution)."""

    @hookimpl(trylast=True)
    def relaykit_wrap_task(self, task: TaskCall) -> Awaitable[Any]:
        """Run the task's function."""
        return task.execute()
