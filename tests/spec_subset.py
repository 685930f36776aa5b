"""Cutting a vendor's API description down to the operations a package calls.

The descriptions in ``../shared/specs`` are large (GitHub's is 8 MB) and may not be read by the
project's tests; each integration package ships the extract ``subset_document`` makes, refreshed
by its cassette generator script.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["subset_document"]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def subset_document(document: Mapping[str, Any], operations: Iterable[tuple[str, str]]) -> Any:
    """A copy of ``document`` holding only the given ``(METHOD, path template)`` operations and
    everything they ``$ref`` (transitively), so a package can ship a small extract of a vendor
    description. Raises ``KeyError`` naming an operation the document does not have."""
    paths: dict[str, dict[str, Any]] = {}
    for method, template in operations:
        item = document["paths"].get(template)
        if item is None or method.lower() not in item:
            raise KeyError(f"{method} {template} is not an operation of the document")
        kept = paths.setdefault(template, {k: v for k, v in item.items() if k not in METHODS})
        kept[method.lower()] = item[method.lower()]
    out: dict[str, Any] = {k: v for k, v in document.items() if k in _KEPT_TOP_LEVEL}
    out["paths"] = paths
    if "definitions" in document:
        out["definitions"] = {}
    pending: list[Any] = [paths]
    seen: set[str] = set()
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/") and ref not in seen:
                seen.add(ref)
                tokens = [t.replace("~1", "/").replace("~0", "~") for t in ref[2:].split("/")]
                target: Any = document
                for token in tokens:
                    target = target[token]
                holder = out
                for token in tokens[:-1]:
                    holder = holder.setdefault(token, {})
                holder[tokens[-1]] = target
                pending.append(target)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return _strip_docs(out)


# What a check needs besides paths and components; tags, webhooks and vendor extensions are not.
_KEPT_TOP_LEVEL = ("openapi", "swagger", "info", "servers", "host", "basePath", "schemes")
_DOC_KEYS = frozenset({"description", "summary", "externalDocs", "x-github", "x-octokit"})
# Inside these, keys are data (an example's fields), not schema keywords: keep them all.
_DATA_KEYS = frozenset({"value", "example", "default", "enum", "const", "x-examples"})


def _strip_docs(node: Any, *, names: bool = False) -> Any:
    """Drop prose (descriptions, summaries) that no check reads; ``names`` marks a mapping whose
    keys are property names, so a property called ``description`` survives."""
    if isinstance(node, list):
        return [_strip_docs(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: value
        if key in _DATA_KEYS and not names
        else _strip_docs(value, names=key == "properties" and not names)
        for key, value in node.items()
        if names or key not in _DOC_KEYS
    }
