"""The ``AsyncOpenAI`` client relaykit tasks use, and the plumbing every task function shares.

The task functions (``_generate``, ``_files``, ``_models``) take the client made by
``create_client`` and keyword arguments named as in OpenAI's API reference; each returns a plain
JSON-able dict (``model_dump(mode="json")``) that relaykit can record as the task's output. A
failure raises the error ``classify`` picks. Functions that create something accept
``idempotency_key`` (relaykit passes the task's ``run_id:task_key``), sent as OpenAI's
``Idempotency-Key`` header so a retried create is not performed twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import httpx2
import openai
from pydantic import BaseModel

from ._classify import classify

JSONObject = dict[str, Any]
T = TypeVar("T")

API_URL = "https://api.openai.com/v1"
DEFAULT_TIMEOUT = 600.0
"""Seconds a request may take: a long completion can take minutes (the SDK's own default)."""


def create_client(
    api_key: str,
    *,
    base_url: str = API_URL,
    organization: str | None = None,
    project: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    http_client: httpx2.AsyncClient | None = None,
) -> openai.AsyncOpenAI:
    """An ``openai.AsyncOpenAI`` for ``api_key`` whose own retries are off.

    relaykit's engine is the only retry owner: it persists each attempt and waits without
    holding a worker, so the SDK's in-process retries (2 by default) would only hide failures
    and multiply requests. ``http_client`` is the testing seam (an ``httpx2.AsyncClient`` with
    a ``MockTransport``, or one that vcrpy replays); ``base_url`` points at a compatible server.
    """
    if not api_key:
        raise ValueError("OpenAI API key is empty; pass a key from the OpenAI dashboard")
    return openai.AsyncOpenAI(
        api_key=api_key,
        organization=organization,
        project=project,
        base_url=base_url,
        timeout=timeout,
        max_retries=0,
        http_client=http_client or httpx2.AsyncClient(),
    )


def request_headers(
    idempotency_key: str | None, extra: Mapping[str, str] | None = None
) -> dict[str, str] | None:
    """The per-request headers: ``Idempotency-Key`` when one is given, plus ``extra``."""
    headers = dict(extra or {})
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return headers or None


def no_stream(function: str, params: Mapping[str, Any]) -> None:
    """Refuse ``stream=True``: a task's output is one recorded value, not a stream of events."""
    if params.get("stream"):
        raise ValueError(
            f"{function} does not stream: a relaykit task records one result; leave out stream="
        )


def dump(model: BaseModel) -> JSONObject:
    """A response model as the JSON-able dict relaykit records."""
    return model.model_dump(mode="json")


async def api(call: Awaitable[T]) -> T:
    """Await an SDK call, turning its failures into relaykit errors (see ``classify``)."""
    try:
        return await call
    except openai.OpenAIError as exc:
        error = classify(exc)
        if error is None:
            raise
        raise error from exc
