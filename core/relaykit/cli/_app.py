"""Loading the user's APP: a path to a ``.py`` file or ``module[:attribute]``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

from ..client import Client
from ..errors import AppLoadError
from ..integrations.base import Integration


def _import_file(path: Path) -> ModuleType:
    resolved = path.resolve()
    if not resolved.is_file():
        raise AppLoadError(f"APP file {str(path)!r} does not exist; pass a path to a .py file")
    folder = str(resolved.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # so the app's sibling modules import as they do for python
    name = resolved.stem if resolved.stem.isidentifier() else "relaykit_app"
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise AppLoadError(f"APP file {str(path)!r} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _import_module(name: str) -> ModuleType:
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")
    return importlib.import_module(name)


def load_client(spec: str) -> Client:
    """The ``Client`` named by ``spec`` (``app.py``, ``app.py:client``, ``pkg.mod:client``)."""
    target, _, attr = spec.partition(":")
    try:
        if target.endswith(".py") or "/" in target or Path(target).is_file():
            module = _import_file(Path(target))
        else:
            module = _import_module(target)
    except AppLoadError:
        raise
    except Exception as exc:
        raise AppLoadError(
            f"cannot load APP {spec!r}: {type(exc).__name__}: {exc}".replace("\n", " ")
        ) from exc
    if attr:
        obj = getattr(module, attr, None)
        if not isinstance(obj, Client):
            raise AppLoadError(
                f"APP {spec!r}: {attr!r} is {type(obj).__name__ if obj is not None else 'missing'},"
                " not a relaykit.Client"
            )
        return obj
    found = {k: v for k, v in vars(module).items() if isinstance(v, Client)}
    if not found:
        raise AppLoadError(
            f"APP {spec!r} defines no relaykit.Client; add `client = Client(id=...)` or pass "
            "module:attribute"
        )
    if len(found) > 1:
        names = ", ".join(sorted(found))
        raise AppLoadError(f"APP {spec!r} defines several Clients ({names}); pass {spec}:NAME")
    return next(iter(found.values()))


def describe_load_error(exc: AppLoadError, root: Path) -> str:
    """Where and why the APP failed to load, in two lines: ``file:line: Type: message``, then
    the offending source line (the deepest frame under ``root``, the user's own code, else the
    deepest frame at all). An error that was not raised by the app's code is its message."""
    cause = exc.__cause__
    if cause is None:
        return str(exc)
    what = " ".join(f"{type(cause).__name__}: {_message(cause)}".split())
    if isinstance(cause, SyntaxError) and cause.filename:  # its own place, not a frame's
        where, code = f"{cause.filename}:{cause.lineno}", (cause.text or "").strip()
    else:
        frames = [f for f in traceback.extract_tb(cause.__traceback__) if f.filename[:1] != "<"]
        mine = [f for f in frames if Path(f.filename).resolve().is_relative_to(root)]
        if not (mine or frames):
            return what
        frame = (mine or frames)[-1]
        where, code = f"{frame.filename}:{frame.lineno}", (frame.line or "").strip()
    return f"{where}: {what}" + (f"\n    {code}" if code else "")


def _message(exc: BaseException) -> str:
    # A SyntaxError's str() repeats its place ("... (app.py, line 3)"); the block shows it once.
    return exc.msg if isinstance(exc, SyntaxError) else str(exc)


def declared_integrations(client: Client) -> dict[str, Integration]:
    """The integration instances the app's jobs declare, by instance id."""
    found: dict[str, Integration] = {}
    for job in client.jobs.values():
        for instance in job.integrations.values():
            if isinstance(instance, Integration):
                found.setdefault(instance.id, instance)
    return found


def check_secret_key(client: Client, command: str) -> None:
    """``CliError`` (one line, exit 2) when the app's jobs read stored connections (integrations
    without a token) and ``RELAYKIT_SECRET_KEY`` cannot decrypt them: every such run would
    otherwise fail for good."""
    from .._base.secrets import SECRET_KEY_ENV, SecretBox
    from ..errors import ConfigurationError
    from ._common import CliError

    declared = declared_integrations(client)
    stored = sorted(i for i, inst in declared.items() if inst.uses_stored_connection())
    if not stored:
        return
    try:
        SecretBox.from_env()
    except (ConfigurationError, ValueError) as exc:
        why = " ".join(str(exc).split())
        raise CliError(
            f"{command}: integration(s) {', '.join(stored)} read stored connections, which "
            f"need {SECRET_KEY_ENV}: {why}"
        ) from exc
