"""Generation tasks: chat completions, responses (with background polling), embeddings, images.

Beyond the named arguments, each function passes ``**params`` to the SDK method unchanged
(``temperature=``, ``tools=``, ``response_format=``, ...), so every option OpenAI documents works.
"""

from __future__ import annotations

from typing import Any

import openai

from ._client import JSONObject, api, dump, no_stream, request_headers
from .errors import OpenAIJobFailed

RESPONSE_PENDING = frozenset({"queued", "in_progress"})
"""Statuses of a background response that has not finished yet."""

RESPONSE_FAILED = frozenset({"failed", "cancelled"})
"""Statuses of a background response that ended without a result."""


async def create_chat_completion(
    client: openai.AsyncOpenAI,
    *,
    model: str,
    messages: list[dict[str, Any]],
    idempotency_key: str | None = None,
    **params: Any,
) -> JSONObject:
    """``POST /chat/completions``: a model's reply to ``messages``."""
    no_stream("create_chat_completion", params)
    completion = await api(
        client.chat.completions.create(
            model=model,
            messages=messages,  # type: ignore[arg-type]  # dicts of the SDK's TypedDicts
            extra_headers=request_headers(idempotency_key),
            **params,
        )
    )
    return dump(completion)


async def create_response(
    client: openai.AsyncOpenAI,
    *,
    model: str,
    input: str | list[dict[str, Any]] | None = None,
    idempotency_key: str | None = None,
    **params: Any,
) -> JSONObject:
    """``POST /responses``: a model response. With ``background=True`` it returns at once
    with ``status`` ``"queued"``; poll ``response_status`` until it finishes."""
    no_stream("create_response", params)
    if input is not None:
        params["input"] = input
    response = await api(
        client.responses.create(
            model=model, extra_headers=request_headers(idempotency_key), **params
        )
    )
    return dump(response)


async def retrieve_response(client: openai.AsyncOpenAI, *, response_id: str) -> JSONObject:
    """``GET /responses/{response_id}``: a response as it is now."""
    return dump(await api(client.responses.retrieve(response_id)))


async def response_status(client: openai.AsyncOpenAI, *, response_id: str) -> JSONObject | None:
    """A background response once it has finished, or ``None`` while it is queued or running.

    The polling step of a durable wait: call it until it returns a dict. A ``completed`` or
    ``incomplete`` response is returned (``incomplete_details`` says why it stopped short);
    a ``failed`` or ``cancelled`` one raises ``OpenAIJobFailed`` (not retried) with its error.
    """
    response = await retrieve_response(client, response_id=response_id)
    status = response.get("status")
    if status in RESPONSE_PENDING:
        return None
    if status in RESPONSE_FAILED:
        error = response.get("error") or {}
        detail = f": {error.get('code')}: {error.get('message')}" if error else ""
        raise OpenAIJobFailed(
            f"OpenAI response {response_id} ended {status}{detail}",
            kind="response",
            result=response,
        )
    return response


async def create_embedding(
    client: openai.AsyncOpenAI,
    *,
    model: str,
    input: str | list[str] | list[int] | list[list[int]],
    idempotency_key: str | None = None,
    **params: Any,
) -> JSONObject:
    """``POST /embeddings``: the embedding vectors of ``input``.

    ``encoding_format`` defaults to ``"float"`` so the recorded output holds plain numbers (the
    SDK would otherwise ask for base64 and decode it).
    """
    params.setdefault("encoding_format", "float")
    result = await api(
        client.embeddings.create(
            model=model, input=input, extra_headers=request_headers(idempotency_key), **params
        )
    )
    return dump(result)


async def generate_image(
    client: openai.AsyncOpenAI,
    *,
    prompt: str,
    idempotency_key: str | None = None,
    **params: Any,
) -> JSONObject:
    """``POST /images/generations``: images for ``prompt`` (URLs or ``b64_json`` per model)."""
    no_stream("generate_image", params)
    result = await api(
        client.images.generate(
            prompt=prompt, extra_headers=request_headers(idempotency_key), **params
        )
    )
    return dump(result)
