"""The cassette/spec checker: a cassette that agrees with the description passes; each kind of
disagreement fails with a message naming the cassette, the interaction and the mismatch."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.spec_check import (
    Interaction,
    OpenAPISpec,
    SpecMismatch,
    check_cassette,
    load_cassette,
)
from tests.spec_subset import subset_document

ISSUE_SCHEMA = {
    "type": "object",
    "required": ["id", "title", "assignee"],
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "assignee": {"allOf": [{"$ref": "#/components/schemas/user"}], "nullable": True},
        "labels": {"type": "array", "items": {"type": "string"}},
    },
}

OAS30: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "tiny", "version": "1"},
    "servers": [{"url": "https://api.example.com"}],
    "paths": {
        "/repos/{owner}/{repo}/issues": {
            "parameters": [
                {"name": "owner", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "repo", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            "post": {
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["title"],
                                "properties": {"title": {"type": "string"}},
                                "additionalProperties": False,
                            }
                        }
                    },
                },
                "responses": {
                    "201": {"$ref": "#/components/responses/issue"},
                    "404": {"description": "Not found"},
                },
            },
            "get": {
                "parameters": [
                    {"name": "per_page", "in": "query", "schema": {"type": "integer"}},
                    {
                        "name": "state",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["open", "closed"]},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "issues",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/issue"},
                                }
                            }
                        },
                    }
                },
            },
        },
        "/repos/{owner}/{repo}/git/refs/{ref}": {
            "get": {
                "parameters": [
                    {"name": "owner", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "repo", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "a ref"}},
            }
        },
    },
    "components": {
        "schemas": {
            "issue": ISSUE_SCHEMA,
            "user": {
                "type": "object",
                "required": ["login"],
                "properties": {"login": {"type": "string"}},
            },
        },
        "responses": {
            "issue": {
                "description": "an issue",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/issue"}}},
            }
        },
    },
}

ISSUE = {"id": 1, "title": "Found a bug", "assignee": None, "labels": ["bug"]}


def exchange(
    method: str = "POST",
    uri: str = "https://api.example.com/repos/octo/hello/issues",
    request: Any = None,
    status: int = 201,
    response: Any = None,
) -> dict[str, Any]:
    """One vcrpy interaction; ``request``/``response`` are JSON values (or None for no body)."""
    return {
        "request": {
            "method": method,
            "uri": uri,
            "body": None if request is None else json.dumps(request),
            "headers": {"Content-Type": ["application/json"]} if request is not None else {},
        },
        "response": {
            "status": {"code": status, "message": ""},
            "headers": {"Content-Type": ["application/json; charset=utf-8"]},
            "body": {"string": "" if response is None else json.dumps(response)},
        },
    }


def write(tmp_path: Path, *interactions: dict[str, Any]) -> Path:
    path = tmp_path / "cassette.yaml"
    path.write_text(yaml.safe_dump({"interactions": list(interactions), "version": 1}))
    return path


def one(tmp_path: Path, item: dict[str, Any]) -> Interaction:
    """The interaction, written to a cassette file and read back as the checker reads files."""
    [interaction] = load_cassette(write(tmp_path, item))
    return interaction


def mismatch(path: Path, spec: OpenAPISpec) -> str:
    with pytest.raises(SpecMismatch) as caught:
        check_cassette(path, spec)
    return str(caught.value)


@pytest.fixture
def spec() -> OpenAPISpec:
    return OpenAPISpec(OAS30, name="tiny.json")


def test_a_cassette_that_agrees_with_the_spec_passes(tmp_path: Path, spec: OpenAPISpec) -> None:
    path = write(
        tmp_path,
        exchange(request={"title": "Found a bug"}, response=ISSUE),
        exchange(
            "GET",
            "https://api.example.com/repos/octo/hello/issues?per_page=2&state=open",
            status=200,
            response=[ISSUE, {**ISSUE, "assignee": {"login": "octocat"}}],
        ),
    )
    check_cassette(path, spec)  # raises on any mismatch


def test_wrong_path_names_the_cassette_interaction_and_closest_template(
    tmp_path: Path, spec: OpenAPISpec
) -> None:
    path = write(
        tmp_path,
        exchange(request={"title": "x"}, response=ISSUE),
        exchange(uri="https://api.example.com/repos/octo/hello/isues", request={"title": "x"}),
    )
    message = mismatch(path, spec)
    assert f"{path}: interaction 1 (POST https://api.example.com/repos/octo/hello/isues)" in message
    assert "matches no path template in tiny.json" in message
    assert "closest template: /repos/{owner}/{repo}/issues" in message
    assert "interaction 0" not in message


def test_another_host_is_not_the_api(tmp_path: Path, spec: OpenAPISpec) -> None:
    path = write(tmp_path, exchange(uri="https://api.example.org/repos/octo/hello/issues"))
    assert "host api.example.org is not the server of tiny.json (api.example.com)" in (
        mismatch(path, spec)
    )


def test_wrong_method_lists_the_declared_ones(tmp_path: Path, spec: OpenAPISpec) -> None:
    path = write(tmp_path, exchange("DELETE", status=204))
    assert "/repos/{owner}/{repo}/issues has no DELETE operation (declared: GET, POST)" in (
        mismatch(path, spec)
    )


def test_undeclared_query_parameter(tmp_path: Path, spec: OpenAPISpec) -> None:
    uri = "https://api.example.com/repos/octo/hello/issues?per_page=2&sort=created"
    path = write(tmp_path, exchange("GET", uri, status=200, response=[ISSUE]))
    message = mismatch(path, spec)
    assert "query parameter 'sort' is not declared (declared: ['per_page', 'state'])" in message


def test_query_parameter_value_is_checked_against_its_schema(
    tmp_path: Path, spec: OpenAPISpec
) -> None:
    uri = "https://api.example.com/repos/octo/hello/issues?state=merged&per_page=many"
    path = write(tmp_path, exchange("GET", uri, status=200, response=[]))
    message = mismatch(path, spec)
    assert "query parameter 'state': at $: 'merged' is not one of ['open', 'closed']" in message
    assert "query parameter 'per_page': at $: 'many' is not of type 'integer'" in message


def test_bad_request_body_field(tmp_path: Path, spec: OpenAPISpec) -> None:
    path = write(tmp_path, exchange(request={"title": "x", "colour": "red"}, response=ISSUE))
    message = mismatch(path, spec)
    assert "request body does not match the schema" in message
    assert "'colour' was unexpected" in message


def test_request_body_of_the_wrong_type(tmp_path: Path, spec: OpenAPISpec) -> None:
    path = write(tmp_path, exchange(request={"title": 5}, response=ISSUE))
    assert "at $.title: 5 is not of type 'string'" in mismatch(path, spec)


def test_missing_required_request_body(tmp_path: Path, spec: OpenAPISpec) -> None:
    path = write(tmp_path, exchange(response=ISSUE))
    assert "the operation requires a request body; none was sent" in mismatch(path, spec)


def test_wrong_response_shape_names_the_json_path(tmp_path: Path, spec: OpenAPISpec) -> None:
    bad = {"id": "1", "title": "x", "assignee": {"name": "no login"}}
    path = write(tmp_path, exchange(request={"title": "x"}, response=bad))
    message = mismatch(path, spec)
    assert "response body (201) does not match the schema" in message
    assert re.search(r"at \$(\.id|\.assignee)?: ", message), message


def test_nullable_is_honoured_and_non_nullable_null_fails(
    tmp_path: Path, spec: OpenAPISpec
) -> None:
    ok = write(tmp_path, exchange(request={"title": "x"}, response=ISSUE))
    check_cassette(ok, spec)
    bad = write(tmp_path, exchange(request={"title": "x"}, response={**ISSUE, "title": None}))
    assert "at $.title: None for not nullable" in mismatch(bad, spec)


def test_undeclared_status(tmp_path: Path, spec: OpenAPISpec) -> None:
    path = write(tmp_path, exchange(request={"title": "x"}, status=500, response={}))
    assert "response status 500 is not declared (declared: ['201', '404'])" in (
        mismatch(path, spec)
    )


def test_body_on_a_response_declared_without_content(tmp_path: Path, spec: OpenAPISpec) -> None:
    path = write(tmp_path, exchange(request={"title": "x"}, status=404, response={"m": 1}))
    assert "response 404 has a body but the spec declares no content for it" in (
        mismatch(path, spec)
    )


def test_only_a_named_trailing_parameter_may_hold_slashes(
    tmp_path: Path, spec: OpenAPISpec
) -> None:
    path = write(
        tmp_path,
        exchange(
            "GET", "https://api.example.com/repos/octo/hello/git/refs/heads/feature/a", status=200
        ),
    )
    assert "matches no path template" in mismatch(path, spec)
    check_cassette(path, OpenAPISpec(OAS30, name="tiny.json", multi_segment=["ref"]))


def test_an_empty_cassette_proves_nothing(tmp_path: Path, spec: OpenAPISpec) -> None:
    assert "the cassette has no interactions" in mismatch(write(tmp_path), spec)


def test_a_file_that_is_not_a_cassette(tmp_path: Path, spec: OpenAPISpec) -> None:
    path = tmp_path / "notes.yaml"
    path.write_text("hello: world\n")
    assert "not a vcrpy cassette" in mismatch(path, spec)


def test_openapi_31_with_a_server_path(tmp_path: Path) -> None:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "v1", "version": "1"},
        "servers": [{"url": "https://api.example.com/v1"}],
        "paths": {
            "/models": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "models",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["data"],
                                        "properties": {
                                            "data": {"type": ["array", "null"]},
                                            # 3.0-style, as OpenAI's 3.1 description writes it
                                            "next": {"type": "string", "nullable": True},
                                        },
                                    }
                                }
                            },
                        }
                    }
                }
            }
        },
    }
    spec = OpenAPISpec(document, name="v1.json")
    item = exchange(
        "GET",
        "https://api.example.com/v1/models",
        status=200,
        response={"data": None, "next": None},
    )
    assert spec.check(one(tmp_path, item)) == []
    wrong = exchange("GET", "https://api.example.com/models", status=200, response={"data": []})
    assert spec.check(one(tmp_path, wrong)) == ["path /models is not under the server path /v1"]
    bad = exchange("GET", "https://api.example.com/v1/models", status=200, response={"data": 1})
    [problem] = spec.check(one(tmp_path, bad))
    assert "at $.data: 1 is not of type 'array', 'null'" in problem


def test_swagger_20_form_parameters_and_response_schema(tmp_path: Path) -> None:
    document = {
        "swagger": "2.0",
        "info": {"title": "slack", "version": "1"},
        "host": "slack.com",
        "basePath": "/api",
        "paths": {
            "/chat.postMessage": {
                "post": {
                    "consumes": ["application/x-www-form-urlencoded", "application/json"],
                    "parameters": [
                        {"name": "token", "in": "header", "type": "string", "required": True},
                        {"name": "channel", "in": "formData", "type": "string", "required": True},
                        {"name": "text", "in": "formData", "type": "string"},
                    ],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "schema": {
                                "type": "object",
                                "required": ["ok"],
                                "properties": {"ok": {"$ref": "#/definitions/ok_true"}},
                            },
                        }
                    },
                }
            }
        },
        "definitions": {"ok_true": {"type": "boolean", "enum": [True]}},
    }
    spec = OpenAPISpec(document, name="slack.json")
    uri = "https://slack.com/api/chat.postMessage"
    good = exchange("POST", uri, status=200, response={"ok": True})
    good["request"] |= {
        "body": "channel=C1&text=hi",
        "headers": {"Content-Type": ["application/x-www-form-urlencoded"]},
    }
    assert spec.check(one(tmp_path, good)) == []
    bad = exchange("POST", uri, request={"channel": "C1", "txt": "hi"}, status=200, response={})
    problems = spec.check(one(tmp_path, bad))
    assert "request form field 'txt' is not declared" in problems
    assert any("'ok' is a required property" in p for p in problems), problems


def test_subset_document_keeps_operations_and_what_they_reference() -> None:
    subset = subset_document(OAS30, [("POST", "/repos/{owner}/{repo}/issues")])
    assert list(subset["paths"]) == ["/repos/{owner}/{repo}/issues"]
    assert set(subset["paths"]["/repos/{owner}/{repo}/issues"]) == {"parameters", "post"}
    assert set(subset["components"]["schemas"]) == {"issue", "user"}
    assert set(subset["components"]["responses"]) == {"issue"}
    with pytest.raises(KeyError, match="PUT /nowhere is not an operation of the document"):
        subset_document(OAS30, [("PUT", "/nowhere")])


SLACK_LIKE: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "slack", "version": "1"},
    "host": "slack.com",
    "basePath": "/api",
    "paths": {
        "/users.info": {
            "get": {
                "parameters": [
                    # Declared required in the query; clients send it as a bearer header.
                    {"name": "token", "in": "query", "type": "string", "required": True},
                    {"name": "user", "in": "query", "type": "string"},
                ],
                "responses": {
                    "200": {
                        "description": "ok",
                        "schema": {
                            "type": "object",
                            "required": ["ok", "user"],
                            "properties": {"ok": {"enum": [True]}, "user": {"type": "object"}},
                        },
                    },
                    "default": {
                        "description": "error",
                        "schema": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["ok", "error"],
                            "properties": {
                                "ok": {"enum": [False]},
                                "error": {"enum": ["user_not_found", "invalid_auth"]},
                            },
                        },
                    },
                },
            }
        },
        "/auth.test": {
            "get": {"responses": {"200": {"description": "ok", "schema": {"type": "object"}}}}
        },
    },
}
USERS_INFO = "https://slack.com/api/users.info?user=W1"


def slack_spec(**options: Any) -> OpenAPISpec:
    return OpenAPISpec(SLACK_LIKE, name="slack-like.json", **options)


def test_ok_false_bodies_are_checked_against_the_error_response(tmp_path: Path) -> None:
    spec = slack_spec(ok_false_response="default", credential_params=["token"])
    error = exchange("GET", USERS_INFO, status=200, response={"ok": False, "error": "invalid_auth"})
    success = exchange("GET", USERS_INFO, status=200, response={"ok": True, "user": {}})
    assert spec.check(one(tmp_path, error)) == []
    assert spec.check(one(tmp_path, success)) == []
    # The error schema still binds: a code it does not list is a mismatch.
    unknown = exchange("GET", USERS_INFO, status=200, response={"ok": False, "error": "nope"})
    [problem] = spec.check(one(tmp_path, unknown))
    assert "response body (200) does not match the schema" in problem
    assert "/responses/default/schema" in problem
    assert "'nope' is not one of ['user_not_found', 'invalid_auth']" in problem


def test_without_the_option_an_ok_false_body_fails_the_success_schema(tmp_path: Path) -> None:
    error = exchange("GET", USERS_INFO, status=200, response={"ok": False, "error": "invalid_auth"})
    problems = slack_spec(credential_params=["token"]).check(one(tmp_path, error))
    assert len(problems) == 1
    assert "/responses/200/schema" in problems[0]


def test_an_ok_false_body_needs_a_declared_error_response(tmp_path: Path) -> None:
    spec = slack_spec(ok_false_response="default")
    item = exchange(
        "GET", "https://slack.com/api/auth.test", status=200, response={"ok": False, "error": "x"}
    )
    assert spec.check(one(tmp_path, item)) == [
        "the 200 body says ok: false but the operation declares no 'default' response for "
        "errors (declared: ['200'])"
    ]


def test_only_2xx_bodies_are_rerouted_by_ok_false(tmp_path: Path) -> None:
    # A 429 has no response of its own here, so it is checked against `default` as before.
    spec = slack_spec(ok_false_response="default", credential_params=["token"])
    item = exchange("GET", USERS_INFO, status=429, response={"ok": False, "error": "ratelimited"})
    [problem] = spec.check(one(tmp_path, item))
    assert "response body (429) does not match the schema" in problem


def test_credential_parameters_sent_as_a_header_are_not_missing(tmp_path: Path) -> None:
    item = exchange("GET", USERS_INFO, status=200, response={"ok": True, "user": {}})
    assert slack_spec().check(one(tmp_path, item)) == [
        "required query parameter 'token' is missing"
    ]
    assert slack_spec(credential_params=["token"]).check(one(tmp_path, item)) == []
