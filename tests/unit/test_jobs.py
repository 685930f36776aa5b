"""Job definitions: slugified ids, semantic versions, duplicates, both definition forms."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from relaykit import (
    Client,
    DuplicateJob,
    InvalidJobDefinition,
    UnknownJob,
    invoke_trigger,
)
from relaykit.definitions.jobs import slugify


async def noop(payload: Any, io: Any, ctx: Any) -> None:
    return None


@pytest.mark.parametrize(
    ("raw", "slug"),
    [
        ("welcome", "welcome"),
        ("Welcome Email", "welcome-email"),  # lowercased, space -> dash
        ("a b//c", "a-b-c"),  # runs of invalid characters collapse
        ("v1.2_beta~x", "v1.2_beta~x"),  # . _ ~ are allowed
        ("  Trim Me!  ", "trim-me"),  # no leading/trailing dash
    ],
)
def test_slugify(raw: str, slug: str) -> None:
    assert slugify(raw) == slug


def test_decorator_and_call_forms() -> None:
    client = Client("t")

    @client.define_job(id="Decorated Job", version="1.0.0")
    async def decorated(payload: Any, io: Any, ctx: Any) -> None:
        return None

    called = client.define_job(id="called", version="2.3.4", run=noop)
    assert decorated.id == "decorated-job"
    assert decorated.name == "Decorated Job"
    assert called.version == "2.3.4"
    assert client.get_job("called") is called
    assert client.get_job(decorated) is decorated


def test_sync_and_async_run_functions_are_told_apart() -> None:
    client = Client("t")

    def sync_run(payload: Any, io: Any, ctx: Any) -> None:
        return None

    assert client.define_job(id="a", version="1.0.0", run=noop).is_async
    assert not client.define_job(id="s", version="1.0.0", run=sync_run).is_async


@pytest.mark.parametrize("version", ["1", "1.0", "1.0.0-beta", "v1.0.0", "01.0.0", ""])
def test_version_must_be_major_minor_patch(version: str) -> None:
    with pytest.raises(InvalidJobDefinition, match=r"MAJOR\.MINOR\.PATCH"):
        Client("t").define_job(id="j", version=version, run=noop)


def test_duplicate_id_is_an_error_even_after_slugifying() -> None:
    client = Client("t")
    client.define_job(id="My Job", version="1.0.0", run=noop)
    with pytest.raises(DuplicateJob, match="my-job"):
        client.define_job(id="my-job", version="1.0.1", run=noop)


def test_empty_id_is_an_error() -> None:
    with pytest.raises(InvalidJobDefinition, match="empty"):
        Client("t").define_job(id="!!!", version="1.0.0", run=noop)


def test_run_function_must_take_payload_io_ctx() -> None:
    async def two(payload: Any, io: Any) -> None:
        return None

    with pytest.raises(InvalidJobDefinition, match=r"\(payload, io, ctx\)"):
        Client("t").define_job(id="j", version="1.0.0", run=two)  # type: ignore[arg-type]


def test_unknown_job_names_the_defined_ones() -> None:
    client = Client("t")
    client.define_job(id="known", version="1.0.0", run=noop)
    with pytest.raises(UnknownJob, match="known"):
        client.get_job("nope")


def test_schema_payload_parsing() -> None:
    class User(BaseModel):
        email: str
        plan: str = "free"

    job = Client("t").define_job(
        id="j", version="1.0.0", trigger=invoke_trigger(schema=User), run=noop
    )
    assert job.parse_payload({"email": "a@b.c"}) == User(email="a@b.c")
    with pytest.raises(ValueError, match="email"):
        job.parse_payload({"plan": "pro"})


def _fingerprint_of(source: str, name: str = "run") -> str:
    from relaykit.definitions.jobs import code_fingerprint

    namespace: dict[str, Any] = {}
    exec(compile(source, "<job>", "exec"), namespace)  # noqa: S102 - the test's own source
    return code_fingerprint(namespace[name])


BASE = """
async def run(payload, io, ctx):
    async def inner():
        return {"a", "b", "c"}
    return await io.run_task("t", inner)
"""


def test_the_code_fingerprint_ignores_layout_and_sees_what_the_function_does() -> None:
    base = _fingerprint_of(BASE)
    assert len(base) == 12 and int(base, 16) >= 0
    # moved down the file, a comment, other blank lines: the same
    moved = "\n\n# a comment\n" + BASE.replace("\n    return", "\n\n    return")
    assert _fingerprint_of(moved) == base
    # a changed constant, a changed nested function, another task key: each different
    assert _fingerprint_of(BASE.replace('"c"', '"d"')) != base
    assert _fingerprint_of(BASE.replace('return {"a"', 'return {"z"')) != base
    assert _fingerprint_of(BASE.replace('"t"', '"t2"')) != base


def test_the_code_fingerprint_is_the_same_in_every_process() -> None:
    """Set constants (frozensets) iterate in string-hash order, which PYTHONHASHSEED changes."""
    import subprocess
    import sys

    program = (
        "from relaykit.definitions.jobs import code_fingerprint\n"
        f"ns = {{}}\nexec({BASE!r}, ns)\nprint(code_fingerprint(ns['run']))\n"
    )
    seen = {
        subprocess.run(
            [sys.executable, "-c", program],
            env={**__import__("os").environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("0", "1", "4711")
    }
    assert seen == {_fingerprint_of(BASE)}


def test_a_callable_object_and_a_decorated_function_get_fingerprints() -> None:
    import functools

    from relaykit.definitions.jobs import code_fingerprint

    class Runner:
        async def __call__(self, payload: Any, io: Any, ctx: Any) -> int:
            return 1

    def logged(fn: Any) -> Any:
        @functools.wraps(fn)
        async def wrapper(*args: Any) -> Any:
            return await fn(*args)

        return wrapper

    assert code_fingerprint(Runner()) == code_fingerprint(Runner())
    assert code_fingerprint(logged(noop)) == code_fingerprint(noop)  # through __wrapped__
    client = Client("fp")
    job = client.define_job(id="j", version="1.0.0")(noop)
    assert job.fingerprint == code_fingerprint(noop)
