"""File and batch tasks: upload a file, wait until it is processed, run a batch over it, and
fetch the batch's results.

``file_status`` and ``batch_status`` are the polling steps of durable waits: each returns
``None`` while OpenAI is still working and the object once it is done.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import openai

from ._client import JSONObject, api, dump, request_headers
from .errors import OpenAIJobFailed

BATCH_PENDING = frozenset({"validating", "in_progress", "finalizing", "cancelling"})
"""Statuses of a batch that has not finished yet."""


def _boundary(*parts: bytes) -> str:
    # The SDK (through httpx2) would pick a random multipart boundary; one derived from the
    # content makes the request body the same on every attempt, so a replayed cassette (and
    # OpenAI's idempotency check) sees the same request.
    digest = hashlib.sha256(b"\0".join(parts)).hexdigest()
    return f"relaykit-{digest[:32]}"


async def create_file(
    client: openai.AsyncOpenAI,
    *,
    filename: str,
    content: str | bytes,
    purpose: str,
    idempotency_key: str | None = None,
    **params: Any,
) -> JSONObject:
    """``POST /files``: upload ``content`` as ``filename`` for ``purpose`` (``"batch"``,
    ``"fine-tune"``, ``"assistants"``, ``"user_data"``, ...). Text is sent as UTF-8."""
    data = content.encode() if isinstance(content, str) else content
    boundary = _boundary(filename.encode(), purpose.encode(), data)
    headers = request_headers(
        idempotency_key, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    uploaded = await api(
        client.files.create(
            file=(filename, data),
            purpose=purpose,  # type: ignore[arg-type]  # a Literal in the SDK; OpenAI adds more
            extra_headers=headers,
            **params,
        )
    )
    return dump(uploaded)


async def retrieve_file(client: openai.AsyncOpenAI, *, file_id: str) -> JSONObject:
    """``GET /files/{file_id}``: a file's metadata."""
    return dump(await api(client.files.retrieve(file_id)))


async def file_status(client: openai.AsyncOpenAI, *, file_id: str) -> JSONObject | None:
    """A file once OpenAI has processed it, or ``None`` while it is still ``uploaded``.

    A file whose processing failed (``status`` ``"error"``) raises ``OpenAIJobFailed`` with
    OpenAI's ``status_details``.
    """
    uploaded = await retrieve_file(client, file_id=file_id)
    status = uploaded.get("status")
    if status == "error":
        raise OpenAIJobFailed(
            f"OpenAI could not process file {file_id}: {uploaded.get('status_details')}",
            kind="file",
            result=uploaded,
        )
    return None if status == "uploaded" else uploaded


async def file_content(client: openai.AsyncOpenAI, *, file_id: str) -> str:
    """``GET /files/{file_id}/content``: a file's content as text."""
    content = await api(client.files.content(file_id))
    return content.text


async def create_batch(
    client: openai.AsyncOpenAI,
    *,
    input_file_id: str,
    endpoint: str,
    completion_window: str = "24h",
    idempotency_key: str | None = None,
    **params: Any,
) -> JSONObject:
    """``POST /batches``: run every request of an uploaded JSONL file (purpose ``"batch"``)
    against ``endpoint`` (``"/v1/chat/completions"``, ``"/v1/embeddings"``, ...)."""
    batch = await api(
        client.batches.create(
            input_file_id=input_file_id,
            endpoint=endpoint,  # type: ignore[arg-type]  # a Literal in the SDK
            completion_window=completion_window,  # type: ignore[arg-type]  # a Literal too
            extra_headers=request_headers(idempotency_key),
            **params,
        )
    )
    return dump(batch)


async def retrieve_batch(client: openai.AsyncOpenAI, *, batch_id: str) -> JSONObject:
    """``GET /batches/{batch_id}``: a batch as it is now."""
    return dump(await api(client.batches.retrieve(batch_id)))


async def batch_status(client: openai.AsyncOpenAI, *, batch_id: str) -> JSONObject | None:
    """A batch once it has ended, or ``None`` while it is validating, running or finalizing.

    ``completed``, ``expired`` and ``cancelled`` batches are returned: the last two may still
    have an ``output_file_id`` with the requests that did finish. A ``failed`` batch (its input
    did not validate) raises ``OpenAIJobFailed`` with OpenAI's ``errors``.
    """
    batch = await retrieve_batch(client, batch_id=batch_id)
    status = batch.get("status")
    if status in BATCH_PENDING:
        return None
    if status == "failed":
        errors = (batch.get("errors") or {}).get("data") or []
        detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        raise OpenAIJobFailed(
            f"OpenAI batch {batch_id} failed" + (f": {detail}" if detail else ""),
            kind="batch",
            result=batch,
        )
    return batch


async def batch_results(client: openai.AsyncOpenAI, *, file_id: str) -> list[JSONObject]:
    """The lines of a batch's output (or error) file, parsed: one dict per request, each with
    its ``custom_id``, ``response`` (``status_code``, ``body``) and ``error``.

    Pass the finished batch's ``output_file_id`` (or ``error_file_id``).
    """
    text = await file_content(client, file_id=file_id)
    return [json.loads(line) for line in text.splitlines() if line.strip()]
