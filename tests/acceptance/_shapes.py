"""The one shape of every resource: what the CLI's ``--json`` prints and the API answers is
checked against the OpenAPI document's component schemas, generated from
``relaykit.engine.resources``."""

from __future__ import annotations

import functools
from typing import Any

import jsonschema

from relaykit.server._openapi import openapi_document


@functools.cache
def _components() -> dict[str, Any]:
    components: dict[str, Any] = openapi_document("/")["components"]
    return components


def check_component(value: Any, name: str) -> Any:
    """``value`` is valid against the OpenAPI document's component schema ``name``; returns
    it. Raises ``jsonschema.ValidationError`` saying where it is not."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": _components()}
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    validator.validate(value)
    return value
