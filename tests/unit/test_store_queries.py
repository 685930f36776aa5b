"""The store's named-query files: how a file is parsed, and that both dialects define every
query the shared algorithms (``store/_runs.py``, ``_tasks.py``, ...) run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from relaykit.store._tx import load_queries, parse_queries

STORE = Path(__file__).resolve().parents[2] / "core" / "relaykit" / "store"
SHARED = [
    "_runs",
    "_flow",
    "_tasks",
    "_events",
    "_schedules",
    "_kv",
    "_auth",
    "_connections",
    "_tokens",
    "_retry",
    "_tags",
]
_CALL = re.compile(r'tx\.(?:execute|execute_many|fetch_one|fetch_all)\(\s*f?"([a-z_]+)(\{)?')
_LITERAL = re.compile(r'f?"([a-z_]+)(\{)?')


def _names(module: str, pattern: re.Pattern[str] = _CALL) -> tuple[set[str], set[str]]:
    """(query names a module runs, prefixes of the names it builds as f"prefix_{...}")."""
    names: set[str] = set()
    prefixes: set[str] = set()
    for name, formatted in pattern.findall((STORE / f"{module}.py").read_text(encoding="utf-8")):
        (prefixes if formatted else names).add(name)
    return names, prefixes


def test_blocks_are_named_statements_without_comments_or_semicolon() -> None:
    text = (
        "-- a file header\n\n-- name: first\n-- why it is written so\nSELECT 1\nFROM t;\n\n"
        "-- name: empty\n\n-- name: last\nDELETE FROM t WHERE a = ?\n"
    )
    assert parse_queries(text) == {
        "first": "SELECT 1\nFROM t",
        "empty": "",  # a step this dialect does not need
        "last": "DELETE FROM t WHERE a = ?",
    }


def test_a_name_defined_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'twice' is defined twice"):
        parse_queries("-- name: twice\nSELECT 1;\n-- name: twice\nSELECT 2;\n")


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_every_query_the_shared_algorithms_run_is_in_both_dialects(dialect: str) -> None:
    queries = load_queries(dialect)
    used = set().union(*(_names(m)[0] for m in SHARED))
    assert used, "the scan found no queries: the call pattern changed"
    assert sorted(used - queries.keys()) == []


def test_a_query_both_dialects_leave_empty_is_a_mistake() -> None:
    sqlite, postgres = load_queries("sqlite"), load_queries("postgres")
    assert (
        sorted(n for n in sqlite.keys() & postgres.keys() if not (sqlite[n] or postgres[n])) == []
    )


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_every_block_of_a_dialect_is_run_somewhere(dialect: str) -> None:
    # any string literal counts: a name may be chosen before the call (``_LIST_RUNS``)
    names: set[str] = set()
    prefixes: set[str] = set()
    for module in [*SHARED, dialect]:
        n, p = _names(module, _LITERAL)
        names |= n
        prefixes |= p
    unused = [
        q
        for q in load_queries(dialect)
        if q not in names and not any(q.startswith(p) for p in prefixes)
    ]
    assert unused == []
