"""The core's layering (docs/internals/layout.md): import-linter's contracts, and no cycle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Every contract of pyproject.toml was checked, and none was left out.
    assert "4 kept, 0 broken" in done.stdout, done.stdout


def _cycles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """Each import a -> b where b also reaches a: the chain b -> ... -> a closes a cycle."""
    found = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                found.append((importer, *back))
    return found


def test_no_import_cycle_at_run_time() -> None:
    graph = grimp.build_graph("relaykit", exclude_type_checking_imports=True)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    assert _cycles(graph) == [("pkg.a", "pkg.b", "pkg.a"), ("pkg.b", "pkg.a", "pkg.b")]
