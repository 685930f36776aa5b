"""Check recorded HTTP interactions (vcrpy cassettes) against a vendor's OpenAPI description.

Shared by every integration package's tests (``from tests.spec_check import ...``; the repository
root is on pytest's ``pythonpath``). A cassette that was written by hand, generated, or recorded
against the real API must agree with the vendor's official description: for each interaction

- the request's method and path name an operation (path templates such as
  ``/repos/{owner}/{repo}/issues``; the server URL's path, e.g. OpenAI's ``/v1``, is stripped);
- every query parameter is declared by the operation and the required ones are present;
- a JSON request body validates against the operation's request-body schema (a form body: every
  field is a declared ``formData`` parameter or schema property);
- the response status is declared, and a JSON response body validates against its schema
  (for APIs that answer errors with HTTP 200 and ``ok: false``, such as Slack's, optionally
  against the operation's error response: ``OpenAPISpec(..., ok_false_response="default")``).

Supported descriptions: OpenAPI 3.0 (``nullable``, ``readOnly``/``writeOnly`` through
``openapi-schema-validator``), OpenAPI 3.1 and Swagger 2.0 (``in: body`` / ``formData``
parameters, JSON Schema draft 4). ``$ref`` is resolved over the whole document with
``referencing``. Multipart request bodies are not checked (no package needs them yet).
"""

from __future__ import annotations

import difflib
import gzip
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError, best_match
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012

__all__ = [
    "Interaction",
    "OpenAPISpec",
    "SpecMismatch",
    "check_cassette",
    "load_cassette",
]

JSON = Any
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class SpecMismatch(AssertionError):
    """A cassette disagrees with the API description; the message lists every mismatch."""


@dataclass(frozen=True)
class Interaction:
    """One recorded request and its response, as stored in a vcrpy cassette."""

    method: str
    uri: str
    request_headers: Mapping[str, str]
    request_body: bytes | None
    status: int
    response_headers: Mapping[str, str]
    response_body: bytes


def _as_bytes(value: object) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise TypeError(f"a cassette body must be text or bytes, got {type(value).__name__}")


def _headers(raw: Mapping[str, Any] | None) -> dict[str, str]:
    # vcrpy stores each header as a list of values; HTTP joins repeated headers with ", ".
    out: dict[str, str] = {}
    for name, value in (raw or {}).items():
        out[name.lower()] = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return out


def load_cassette(path: Path) -> list[Interaction]:
    """Read a vcrpy YAML cassette into interactions.

    Raises ``SpecMismatch`` naming the file when it is not a vcrpy cassette.
    """
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
        raise SpecMismatch(f"{path}: not a vcrpy cassette (no 'interactions' list)")
    out = []
    for item in data["interactions"]:
        req, resp = item["request"], item["response"]
        out.append(
            Interaction(
                method=str(req["method"]).upper(),
                uri=str(req["uri"]),
                request_headers=_headers(req.get("headers")),
                request_body=_as_bytes(req.get("body")),
                status=int(resp["status"]["code"]),
                response_headers=_headers(resp.get("headers")),
                response_body=_as_bytes((resp.get("body") or {}).get("string")) or b"",
            )
        )
    return out


@dataclass
class _Route:
    template: str
    strict: re.Pattern[str]
    greedy: re.Pattern[str]
    literal_chars: int
    item: dict[str, Any] = field(repr=False)


def _compile(template: str, *, multi_segment: frozenset[str]) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    params = [i for i, part in enumerate(parts) if part.startswith("{")]
    pattern = ""
    for i, part in enumerate(parts):
        if not part.startswith("{"):
            pattern += re.escape(part)
        elif part[1:-1] in multi_segment and i == params[-1] and parts[-1] == "":
            # A trailing parameter named in ``multi_segment`` may hold slashes: GitHub's git
            # ref ``heads/main`` or a contents ``path`` such as ``docs/index.md``.
            pattern += "(.+)"
        else:
            pattern += "([^/]+)"
    return re.compile(pattern + "/?")


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _coerce(value: str, schema: Mapping[str, Any]) -> JSON:
    """A query/path string as the type its parameter declares, so its schema can check it."""
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def _first_error(errors: Iterable[ValidationError]) -> str | None:
    error = best_match(errors)
    if error is None:
        return None
    return f"at {error.json_path}: {error.message[:300]}"


_COMPOSED = ("allOf", "oneOf", "anyOf", "$ref")
_NOT_SCHEMAS = frozenset({"example", "examples", "default", "enum", "const", "x-examples"})


def _nullable(node: Any, *, typed: bool, names: bool = False) -> Any:
    """Make ``nullable: true`` mean "or null" wherever it appears.

    OpenAPI 3.0 ``nullable`` beside ``allOf``/``oneOf``/``anyOf``/``$ref`` (GitHub's description
    has 94) means "this, or null", but a strict validator lets the composed schemas reject null:
    such a schema becomes ``anyOf: [null, the schema]``, and a nullable ``enum`` gains null.
    With ``typed`` (a 3.1 document, where ``nullable`` is no keyword but OpenAI's description
    still uses it), ``type: X`` becomes ``type: [X, "null"]`` too.
    """
    if isinstance(node, list):
        return [_nullable(item, typed=typed) for item in node]
    if not isinstance(node, dict):
        return node
    # Under ``properties`` the keys are property names (a property may be called "default").
    out = {
        key: value
        if key in _NOT_SCHEMAS and not names
        else _nullable(value, typed=typed, names=key == "properties" and not names)
        for key, value in node.items()
    }
    if names or out.get("nullable") is not True:
        return out
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    kind = out.get("type")
    if typed and isinstance(kind, str | list) and "null" not in kind:
        out["type"] = [*([kind] if isinstance(kind, str) else kind), "null"]
    if kind is None and any(k in out for k in _COMPOSED):
        rest = {key: value for key, value in out.items() if key != "nullable"}
        return {"anyOf": [{"enum": [None]}, rest]}
    return out


class OpenAPISpec:
    """An API description (OpenAPI 3.0/3.1 or Swagger 2.0) that checks interactions."""

    def __init__(
        self,
        document: Mapping[str, Any],
        *,
        name: str = "spec",
        multi_segment: Iterable[str] = (),
        ok_false_response: str | None = None,
        credential_params: Iterable[str] = (),
    ) -> None:
        """Wrap a parsed description; ``name`` appears in failure messages.

        ``multi_segment`` names path parameters whose values may contain slashes when they end
        the path (GitHub: ``ref``, ``path``); OpenAPI cannot say so itself. Elsewhere a
        parameter is one path segment, so a misspelt path is not taken for a longer value.

        ``ok_false_response`` is for APIs that report errors in a 2xx body (Slack: HTTP 200
        with ``{"ok": false, "error": ...}``, whose description declares the error schema as
        the ``default`` response): a 2xx JSON object whose ``ok`` is ``false`` is checked
        against that response instead of the success schema it would otherwise fail.
        ``credential_params`` names parameters that carry the credential, which the client
        sends in the ``Authorization`` header instead (Slack's ``token``, declared required in
        the query of some methods but refused there from apps created since 2021): a missing
        one is not a mismatch. The description alone cannot say either.
        """
        self.document = document
        self.name = name
        self.ok_false_response = ok_false_response
        self.credential_params = frozenset(credential_params)
        if str(document.get("swagger", "")).startswith("2."):
            self.version = "2.0"
            self.base_path = str(document.get("basePath", "")).rstrip("/")
            spec = DRAFT4
        elif str(document.get("openapi", "")).startswith(("3.0", "3.1")):
            self.version = str(document["openapi"])[:3]
            servers = document.get("servers") or [{"url": ""}]
            self.base_path = urlsplit(str(servers[0]["url"])).path.rstrip("/")
            spec = DRAFT202012 if self.version == "3.1" else DRAFT4
        else:
            raise ValueError(f"{name}: not an OpenAPI 3.0/3.1 or Swagger 2.0 document")
        self.host = (
            str(document.get("host", ""))
            if self.version == "2.0"
            else urlsplit(str((document.get("servers") or [{"url": ""}])[0]["url"])).netloc
        )
        self._uri = f"urn:relaykit-spec:{re.sub(r'[^A-Za-z0-9.-]', '-', name)}"
        # Validation runs over a copy in which ``nullable`` means "or null" everywhere (see
        # ``_nullable``); lookups (paths, parameters) use the document as published.
        contents = (
            _nullable(document, typed=self.version == "3.1") if self.version != "2.0" else document
        )
        self._registry: Registry[Any] = Registry().with_resource(
            self._uri, Resource.from_contents(contents, default_specification=spec)
        )
        self._routes = [
            _Route(
                template=template,
                strict=_compile(template, multi_segment=frozenset()),
                greedy=_compile(template, multi_segment=frozenset(multi_segment)),
                literal_chars=len(re.sub(r"\{[^}]+\}", "", template)),
                item=item,
            )
            for template, item in document.get("paths", {}).items()
        ]

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        multi_segment: Iterable[str] = (),
        ok_false_response: str | None = None,
        credential_params: Iterable[str] = (),
    ) -> OpenAPISpec:
        """Load a ``.json`` or ``.json.gz`` description from a file (options: see ``__init__``)."""
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            return cls(
                json.load(fh),
                name=path.name,
                multi_segment=multi_segment,
                ok_false_response=ok_false_response,
                credential_params=credential_params,
            )

    # -- references -------------------------------------------------------------------------

    def _pointer(self, pointer: str) -> JSON:
        node: JSON = self.document
        for token in pointer.lstrip("/").split("/") if pointer else []:
            key = token.replace("~1", "/").replace("~0", "~")
            node = node[int(key)] if isinstance(node, list) else node[key]
        return node

    def _follow(self, node: JSON, pointer: str) -> tuple[JSON, str]:
        """Follow ``$ref`` chains; returns the node and its JSON pointer in the document."""
        while isinstance(node, dict) and "$ref" in node:
            ref = str(node["$ref"])
            if not ref.startswith("#"):
                raise ValueError(f"{self.name}: only local $refs are supported, got {ref!r}")
            pointer = ref[1:]
            node = self._pointer(pointer)
        return node, pointer

    def _validate(self, instance: JSON, pointer: str, *, writing: bool) -> str | None:
        """Validate against the schema at ``pointer``; the first problem, or None."""
        schema = {"$ref": f"{self._uri}#{pointer}"}
        if self.version == "3.0":
            cls = OAS30WriteValidator if writing else OAS30ReadValidator
            return _first_error(cls(schema, registry=self._registry).iter_errors(instance))
        if self.version == "3.1":
            return _first_error(
                OAS31Validator(schema, registry=self._registry).iter_errors(instance)
            )
        validator = Draft4Validator(schema, registry=self._registry)
        return _first_error(validator.iter_errors(instance))

    # -- matching ---------------------------------------------------------------------------

    def find_path(self, path: str) -> tuple[str, dict[str, Any], list[str]] | None:
        """The path template matching a request path (most literal first), its path item,
        and the path-parameter values; ``None`` when nothing matches."""
        for attr in ("strict", "greedy"):
            hits = [
                (route, match)
                for route in self._routes
                if (match := getattr(route, attr).fullmatch(path)) is not None
            ]
            if hits:
                route, match = max(hits, key=lambda hit: hit[0].literal_chars)
                return route.template, route.item, list(match.groups())
        return None

    def _parameters(self, item: Mapping[str, Any], method: str, base: str) -> list[Any]:
        # Operation-level parameters override path-item-level ones with the same name and place.
        params: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
        for where, source in (("", item), (f"/{method}", item[method])):
            for i, raw in enumerate(source.get("parameters", [])):
                param, pointer = self._follow(raw, f"{base}{where}/parameters/{i}")
                params[(param["name"], param["in"])] = (param, pointer)
        return list(params.values())

    # -- checking ---------------------------------------------------------------------------

    def check(self, interaction: Interaction) -> list[str]:
        """Every way one interaction disagrees with the description (empty when it agrees)."""
        url = urlsplit(interaction.uri)
        if self.host and url.netloc != self.host:
            return [f"host {url.netloc} is not the server of {self.name} ({self.host})"]
        path = url.path
        if self.base_path:
            if not path.startswith(self.base_path + "/"):
                return [f"path {path} is not under the server path {self.base_path}"]
            path = path[len(self.base_path) :]
        found = self.find_path(path)
        if found is None:
            close = difflib.get_close_matches(path, [r.template for r in self._routes], n=1)
            hint = f" (closest template: {close[0]})" if close else ""
            return [f"path {path} matches no path template in {self.name}{hint}"]
        template, item, values = found
        method = interaction.method.lower()
        if method not in item:
            declared = ", ".join(m.upper() for m in METHODS if m in item)
            return [f"{template} has no {method.upper()} operation (declared: {declared})"]
        base = "/paths/" + template.replace("~", "~0").replace("/", "~1")
        op = item[method]
        params = self._parameters(item, method, base)
        problems = self._check_parameters(template, params, values, url.query)
        problems += self._check_request_body(op, params, f"{base}/{method}", interaction)
        problems += self._check_response(op, f"{base}/{method}", interaction)
        return problems

    def _param_schema(self, param: Mapping[str, Any], pointer: str) -> str | None:
        if "schema" in param:
            return f"{pointer}/schema"
        # Swagger 2.0 puts type/enum/format on the parameter itself; a draft-4 validator ignores
        # the other keys (name, in, required, description) of the parameter object.
        return pointer if self.version == "2.0" and "type" in param else None

    def _check_parameters(
        self, template: str, params: list[Any], values: list[str], query: str
    ) -> list[str]:
        problems = []
        names = re.findall(r"\{([^}]+)\}", template)
        by_place = {(p["name"], p["in"]): (p, ptr) for p, ptr in params}
        for name, value in zip(names, values, strict=True):
            if (name, "path") not in by_place:
                problems.append(f"path parameter {name!r} is not declared by the operation")
                continue
            param, ptr = by_place[(name, "path")]
            problems += self._check_value(f"path parameter {name!r}", value, param, ptr)
        sent = parse_qsl(query, keep_blank_values=True)
        for name, value in sent:
            key = name.removesuffix("[]")
            if (key, "query") not in by_place:
                declared = sorted(n for n, place in by_place if place == "query")
                problems.append(f"query parameter {name!r} is not declared (declared: {declared})")
                continue
            param, ptr = by_place[(key, "query")]
            problems += self._check_value(f"query parameter {name!r}", value, param, ptr)
        sent_names = {name.removesuffix("[]") for name, _ in sent}
        for (name, place), (param, _) in by_place.items():
            if (
                place == "query"
                and param.get("required")
                and name not in sent_names
                and name not in self.credential_params
            ):
                problems.append(f"required query parameter {name!r} is missing")
        return problems

    def _check_value(self, label: str, value: str, param: Any, pointer: str) -> list[str]:
        schema_ptr = self._param_schema(param, pointer)
        if schema_ptr is None:
            return []
        schema, _ = self._follow(self._pointer(schema_ptr), schema_ptr)
        problem = self._validate(_coerce(value, schema), schema_ptr, writing=True)
        return [f"{label}: {problem}"] if problem else []

    def _check_request_body(
        self, op: Mapping[str, Any], params: list[Any], pointer: str, interaction: Interaction
    ) -> list[str]:
        body = interaction.request_body or b""
        media = _media_type(interaction.request_headers.get("content-type"))
        if self.version == "2.0":
            return self._check_swagger_body(params, body, media)
        request_body, rb_ptr = self._follow(op.get("requestBody"), f"{pointer}/requestBody")
        if request_body is None:
            return ["the request has a body but the operation declares none"] if body else []
        if not body:
            if request_body.get("required"):
                return ["the operation requires a request body; none was sent"]
            return []
        content = request_body.get("content", {})
        if media not in content:
            return [f"request content type {media!r} is not declared (declared: {list(content)})"]
        schema_ptr = f"{rb_ptr}/content/{media.replace('/', '~1')}/schema"
        if _is_json(media):
            return self._check_json("request body", body, schema_ptr, writing=True)
        if media == "application/x-www-form-urlencoded":
            schema, _ = self._follow(self._pointer(schema_ptr), schema_ptr)
            declared = set(schema.get("properties", {}))
            return [
                f"request form field {name!r} is not declared (declared: {sorted(declared)})"
                for name, _ in parse_qsl(body.decode(), keep_blank_values=True)
                if name not in declared
            ]
        return []  # multipart and binary bodies: not checked (see the module docstring)

    def _check_swagger_body(self, params: list[Any], body: bytes, media: str) -> list[str]:
        body_params = [(p, ptr) for p, ptr in params if p["in"] == "body"]
        form = {p["name"]: p for p, _ in params if p["in"] == "formData"}
        if not body:
            return []
        if _is_json(media) and body_params:
            _, ptr = body_params[0]
            return self._check_json("request body", body, f"{ptr}/schema", writing=True)
        if _is_json(media) and form:
            sent = list(json.loads(body))
        elif media == "application/x-www-form-urlencoded":
            sent = [name for name, _ in parse_qsl(body.decode(), keep_blank_values=True)]
        else:
            return [f"request content type {media!r} is not supported by this operation"]
        problems = [f"request form field {n!r} is not declared" for n in sent if n not in form]
        problems += [
            f"required form field {n!r} is missing"
            for n, p in form.items()
            if p.get("required") and n not in sent and n not in self.credential_params
        ]
        return problems

    def _check_json(self, label: str, body: bytes, pointer: str, *, writing: bool) -> list[str]:
        try:
            instance = json.loads(body)
        except ValueError as exc:
            return [f"{label} is not valid JSON ({exc})"]
        problem = self._validate(instance, pointer, writing=writing)
        return [f"{label} does not match the schema {pointer}: {problem}"] if problem else []

    def _reports_error_in_body(self, interaction: Interaction) -> bool:
        """A 2xx JSON object with ``ok: false``, when ``ok_false_response`` is set."""
        if self.ok_false_response is None or not 200 <= interaction.status < 300:
            return False
        try:
            body = json.loads(interaction.response_body)
        except ValueError:
            return False
        return isinstance(body, dict) and body.get("ok") is False

    def _check_response(
        self, op: Mapping[str, Any], pointer: str, interaction: Interaction
    ) -> list[str]:
        responses = op.get("responses", {})
        status = str(interaction.status)
        key = next(
            (k for k in (status, f"{status[0]}XX", f"{status[0]}xx", "default") if k in responses),
            None,
        )
        if key is None:
            return [f"response status {status} is not declared (declared: {list(responses)})"]
        if self._reports_error_in_body(interaction):
            key = str(self.ok_false_response)
            if key not in responses:
                return [
                    f"the {status} body says ok: false but the operation declares no {key!r} "
                    f"response for errors (declared: {list(responses)})"
                ]
        response, r_ptr = self._follow(responses[key], f"{pointer}/responses/{key}")
        body = interaction.response_body
        media = _media_type(interaction.response_headers.get("content-type"))
        if self.version == "2.0":
            if "schema" not in response or not body:
                return []
            return self._check_json(
                f"response body ({status})", body, f"{r_ptr}/schema", writing=False
            )
        content = response.get("content") or {}
        if not body:
            return []
        if not content:
            return [f"response {status} has a body but the spec declares no content for it"]
        if media not in content:
            return [
                f"response content type {media!r} is not declared for {status} ({list(content)})"
            ]
        if not _is_json(media) or "schema" not in content[media]:
            return []
        schema_ptr = f"{r_ptr}/content/{media.replace('/', '~1')}/schema"
        return self._check_json(f"response body ({status})", body, schema_ptr, writing=False)


def check_cassette(path: Path, spec: OpenAPISpec) -> None:
    """Check every interaction of the cassette at ``path``.

    Raises ``SpecMismatch`` listing each mismatch with the cassette, the interaction's index and
    its request line; a cassette without interactions is a mismatch too (it proves nothing).
    """
    interactions = load_cassette(path)
    if not interactions:
        raise SpecMismatch(f"{path}: the cassette has no interactions")
    problems = [
        f"{path}: interaction {index} ({item.method} {item.uri}): {problem}"
        for index, item in enumerate(interactions)
        for problem in spec.check(item)
    ]
    if problems:
        raise SpecMismatch("\n".join(problems))
