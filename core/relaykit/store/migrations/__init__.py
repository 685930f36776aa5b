"""Versioned schema migrations, one ``NNNN_name.sql`` file per version and backend."""

from __future__ import annotations

from importlib import resources


def load(backend: str) -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration of ``backend`` ("sqlite", "postgres"),
    in version order."""
    folder = resources.files(__name__) / backend
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql"):
            found.append((int(name.split("_", 1)[0]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)
