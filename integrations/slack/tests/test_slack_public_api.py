"""relaykit_slack's public surface is exactly ``__all__``."""

from __future__ import annotations

import types

import relaykit_slack


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(relaykit_slack).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    public.add("__version__")
    assert set(relaykit_slack.__all__) == public


def test_every_public_name_has_a_docstring() -> None:
    undocumented = [
        name
        for name in relaykit_slack.__all__
        if callable(obj := getattr(relaykit_slack, name)) and not (obj.__doc__ or "").strip()
    ]
    assert not undocumented
