"""``OpenAI``: the relaykit integration (``io.openai.create_chat_completion(key, ...)``).

Each ``@task`` method is a memoized, retried task of the run that calls it. It sends the task's
``idempotency_key`` (``run_id:task_key``, stable across attempts and replays) as OpenAI's
``Idempotency-Key``, so a create whose answer was lost is not performed twice.

The ``wait_for_*`` tasks are durable waits: each attempt polls once, and while OpenAI is still
working it raises ``OpenAIStillRunning`` (a ``relaykit.RetryAfter``). The engine persists the
next poll time and suspends the run, so a batch that takes a day holds no worker slot; the
task's retry limit (``MAX_POLLS``) and its ``max_polls`` parameter bound the wait.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx2
import openai

import relaykit
from relaykit import Credentials, NonRetriable, Retry

from . import _files, _generate, _models
from ._classify import classify
from ._client import API_URL, DEFAULT_TIMEOUT, create_client
from .errors import OpenAIStillRunning, OpenAIWaitTimedOut

MAX_POLLS = 1000
"""The most polls a ``wait_for_*`` task makes (its retry limit): a backstop over ``max_polls``."""

_WAIT_RETRY = Retry(limit=MAX_POLLS)


def _key() -> str:
    # The task's own key, the same on every attempt and replay: what OpenAI deduplicates on.
    return relaykit.current_task().idempotency_key


async def _poll(
    kind: str,
    object_id: str,
    step: Callable[[], Awaitable[dict[str, Any] | None]],
    poll_every: float,
    max_polls: int,
) -> dict[str, Any]:
    """One poll of a durable wait: the finished object, else ``OpenAIStillRunning``."""
    if poll_every <= 0 or not 1 <= max_polls <= MAX_POLLS:
        raise NonRetriable(
            f"waiting for OpenAI {kind} {object_id}: poll_every must be > 0 and max_polls "
            f"1 to {MAX_POLLS}, got poll_every={poll_every!r}, max_polls={max_polls!r}"
        )
    done = await step()
    if done is not None:
        return done
    polls = relaykit.current_task().attempt
    if polls >= max_polls:
        raise OpenAIWaitTimedOut(
            f"OpenAI {kind} {object_id} had not finished after {polls} polls "
            f"{poll_every:g}s apart; it goes on at OpenAI: replay the run to wait again",
            kind=kind,
            object_id=object_id,
            polls=polls,
        )
    raise OpenAIStillRunning(poll_every, kind=kind, object_id=object_id)


class OpenAI(relaykit.Integration):
    """OpenAI: chat completions, responses, embeddings, images, files, batches and models.

    ``OpenAI(id="openai", api_key=...)``; without ``api_key`` the key is read from
    ``$OPENAI_API_KEY`` (or ``token_env=``) when a task runs, else from the connection stored
    with ``relaykit connect openai --token-stdin``. ``organization``/``project`` select the
    billing target, ``base_url`` a compatible server, ``timeout`` the seconds one request may
    take; ``transport`` replaces the HTTP transport (tests).
    """

    slug = "openai"
    name = "OpenAI"
    icon = "openai"
    docs_url = "https://platform.openai.com/docs/api-reference"
    auth_modes = ("token",)
    token_env = "OPENAI_API_KEY"  # noqa: S105 -- the name of a variable, not a key

    def __init__(
        self,
        id: str = "openai",
        *,
        api_key: str | None = None,
        token_env: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        base_url: str = API_URL,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(id, token=api_key, token_env=token_env, transport=transport)
        self.organization = organization
        self.project = project
        self.base_url = base_url
        self.timeout = timeout

    def create_client(self, credentials: Credentials) -> openai.AsyncOpenAI:
        """An ``openai.AsyncOpenAI`` with the SDK's retries off (the engine retries tasks);
        the core reuses it for every task of this worker with these credentials, and closes
        it, and its HTTP client, when the worker stops or the credentials change."""
        transport = self.transport or httpx2.AsyncHTTPTransport(retries=0)
        return create_client(
            credentials.access_token,
            base_url=self.base_url,
            organization=self.organization,
            project=self.project,
            timeout=self.timeout,
            http_client=httpx2.AsyncClient(transport=transport),
        )

    def classify_error(self, exc: Exception) -> BaseException | None:
        """OpenAI's rules (``relaykit_openai.classify``): rate limits wait for their reset,
        ``insufficient_quota`` and other 4xx fail at once, 5xx and timeouts are retried."""
        return classify(exc)

    def task_properties(self, output: Any) -> Mapping[str, Any]:
        """The token usage of a task's output (``usage_properties``), shown as its properties.

        Called by the core once a task completes, where the core supports it (see the
        package README); an output without ``usage`` adds none.
        """
        return _models.usage_properties(output) if isinstance(output, Mapping) else {}

    # -- generation -------------------------------------------------------------------------
    # ``self`` and ``client`` are positional-only where ``**params`` (passed on to the SDK)
    # follows: otherwise mypy cannot match the method to ``@task``'s ParamSpec, as a keyword
    # argument named "client" could land in either.

    @relaykit.task(name="Chat completion", icon="message")
    async def create_chat_completion(
        self,
        client: openai.AsyncOpenAI,
        /,
        *,
        model: str,
        messages: list[dict[str, Any]],
        **params: Any,
    ) -> dict[str, Any]:
        """``POST /chat/completions``: a model's reply to ``messages``."""
        return await _generate.create_chat_completion(
            client, model=model, messages=messages, idempotency_key=_key(), **params
        )

    @relaykit.task(name="Response", icon="message")
    async def create_response(
        self,
        client: openai.AsyncOpenAI,
        /,
        *,
        model: str,
        input: str | list[dict[str, Any]] | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """``POST /responses``. With ``background=True`` it returns at once, ``queued``: pass
        its ``id`` to ``wait_for_response``."""
        return await _generate.create_response(
            client, model=model, input=input, idempotency_key=_key(), **params
        )

    @relaykit.task(name="Retrieve response", icon="message")
    async def retrieve_response(
        self, client: openai.AsyncOpenAI, *, response_id: str
    ) -> dict[str, Any]:
        """``GET /responses/{response_id}``: a response as it is now."""
        return await _generate.retrieve_response(client, response_id=response_id)

    @relaykit.task(name="Wait for response", icon="hourglass", retry=_WAIT_RETRY)
    async def wait_for_response(
        self,
        client: openai.AsyncOpenAI,
        /,
        *,
        response_id: str,
        poll_every: float = 10.0,
        max_polls: int = 360,
    ) -> dict[str, Any]:
        """A durable wait until a background response ends: ``completed`` or ``incomplete``
        are returned; ``failed``/``cancelled`` raise ``OpenAIJobFailed``. Polls every
        ``poll_every`` seconds, at most ``max_polls`` times (then ``OpenAIWaitTimedOut``)."""

        def step() -> Awaitable[dict[str, Any] | None]:
            return _generate.response_status(client, response_id=response_id)

        return await _poll("response", response_id, step, poll_every, max_polls)

    @relaykit.task(name="Embedding", icon="vector")
    async def create_embedding(
        self,
        client: openai.AsyncOpenAI,
        /,
        *,
        model: str,
        input: str | list[str] | list[int] | list[list[int]],
        **params: Any,
    ) -> dict[str, Any]:
        """``POST /embeddings``: the vectors of ``input`` (plain floats)."""
        return await _generate.create_embedding(
            client, model=model, input=input, idempotency_key=_key(), **params
        )

    @relaykit.task(name="Generate image", icon="image")
    async def generate_image(
        self, client: openai.AsyncOpenAI, /, *, prompt: str, **params: Any
    ) -> dict[str, Any]:
        """``POST /images/generations``: images for ``prompt``."""
        return await _generate.generate_image(
            client, prompt=prompt, idempotency_key=_key(), **params
        )

    # -- files and batches ------------------------------------------------------------------

    @relaykit.task(name="Upload file", icon="upload")
    async def create_file(
        self,
        client: openai.AsyncOpenAI,
        /,
        *,
        filename: str,
        content: str | bytes,
        purpose: str,
        **params: Any,
    ) -> dict[str, Any]:
        """``POST /files``: upload ``content`` as ``filename`` for ``purpose``."""
        return await _files.create_file(
            client,
            filename=filename,
            content=content,
            purpose=purpose,
            idempotency_key=_key(),
            **params,
        )

    @relaykit.task(name="Retrieve file", icon="file")
    async def retrieve_file(self, client: openai.AsyncOpenAI, *, file_id: str) -> dict[str, Any]:
        """``GET /files/{file_id}``: a file's metadata."""
        return await _files.retrieve_file(client, file_id=file_id)

    @relaykit.task(name="File content", icon="file")
    async def file_content(self, client: openai.AsyncOpenAI, *, file_id: str) -> str:
        """``GET /files/{file_id}/content``: a file's content as text."""
        return await _files.file_content(client, file_id=file_id)

    @relaykit.task(name="Wait for file", icon="hourglass", retry=_WAIT_RETRY)
    async def wait_for_file(
        self,
        client: openai.AsyncOpenAI,
        /,
        *,
        file_id: str,
        poll_every: float = 5.0,
        max_polls: int = 120,
    ) -> dict[str, Any]:
        """A durable wait until an uploaded file is processed (``OpenAIJobFailed`` if its
        processing failed)."""

        def step() -> Awaitable[dict[str, Any] | None]:
            return _files.file_status(client, file_id=file_id)

        return await _poll("file", file_id, step, poll_every, max_polls)

    @relaykit.task(name="Create batch", icon="layers")
    async def create_batch(
        self,
        client: openai.AsyncOpenAI,
        /,
        *,
        input_file_id: str,
        endpoint: str,
        completion_window: str = "24h",
        **params: Any,
    ) -> dict[str, Any]:
        """``POST /batches``: run every request of an uploaded JSONL file."""
        return await _files.create_batch(
            client,
            input_file_id=input_file_id,
            endpoint=endpoint,
            completion_window=completion_window,
            idempotency_key=_key(),
            **params,
        )

    @relaykit.task(name="Retrieve batch", icon="layers")
    async def retrieve_batch(self, client: openai.AsyncOpenAI, *, batch_id: str) -> dict[str, Any]:
        """``GET /batches/{batch_id}``: a batch as it is now."""
        return await _files.retrieve_batch(client, batch_id=batch_id)

    @relaykit.task(name="Wait for batch", icon="hourglass", retry=_WAIT_RETRY)
    async def wait_for_batch(
        self,
        client: openai.AsyncOpenAI,
        /,
        *,
        batch_id: str,
        poll_every: float = 300.0,
        max_polls: int = 300,
    ) -> dict[str, Any]:
        """A durable wait until a batch ends (``completed``, ``expired`` or ``cancelled``;
        ``failed`` raises ``OpenAIJobFailed``). By default every 5 minutes for 25 hours."""

        def step() -> Awaitable[dict[str, Any] | None]:
            return _files.batch_status(client, batch_id=batch_id)

        return await _poll("batch", batch_id, step, poll_every, max_polls)

    @relaykit.task(name="Batch results", icon="layers")
    async def batch_results(
        self, client: openai.AsyncOpenAI, *, file_id: str
    ) -> list[dict[str, Any]]:
        """A batch's output (or error) file, one parsed dict per request."""
        return await _files.batch_results(client, file_id=file_id)

    async def run_batch(
        self,
        key: str,
        /,
        *,
        requests: list[dict[str, Any]],
        endpoint: str,
        completion_window: str = "24h",
        poll_every: float = 300.0,
        max_polls: int = 300,
    ) -> list[dict[str, Any]]:
        """Upload ``requests`` (each with ``custom_id``, ``method``, ``url``, ``body``), run
        them as a batch, wait for it durably and return its result lines.

        Five tasks keyed ``<key>.upload``, ``.processed``, ``.batch``, ``.done`` and
        ``.results``; call it on ``io.openai`` like a task. A batch that ends without an
        output file (all its requests failed, or it expired first) returns its error lines.
        """
        content = "".join(json.dumps(request) + "\n" for request in requests)
        uploaded = await self.create_file(
            f"{key}.upload", filename=f"{key}.jsonl", content=content, purpose="batch"
        )
        await self.wait_for_file(f"{key}.processed", file_id=uploaded["id"])
        batch = await self.create_batch(
            f"{key}.batch",
            input_file_id=uploaded["id"],
            endpoint=endpoint,
            completion_window=completion_window,
        )
        ended = await self.wait_for_batch(
            f"{key}.done", batch_id=batch["id"], poll_every=poll_every, max_polls=max_polls
        )
        file_id = ended.get("output_file_id") or ended.get("error_file_id")
        if not file_id:
            return []
        return await self.batch_results(f"{key}.results", file_id=file_id)

    # -- models -----------------------------------------------------------------------------

    @relaykit.task(name="List models", icon="list")
    async def list_models(self, client: openai.AsyncOpenAI) -> list[dict[str, Any]]:
        """``GET /models``: every model the key's project can use."""
        return await _models.list_models(client)

    @relaykit.task(name="Retrieve model", icon="cpu")
    async def retrieve_model(self, client: openai.AsyncOpenAI, *, model: str) -> dict[str, Any]:
        """``GET /models/{model}``: one model."""
        return await _models.retrieve_model(client, model=model)


@relaykit.hookimpl
def relaykit_register_integrations(register: Any) -> None:
    """Make ``OpenAI`` known to relaykit (``relaykit plugins``, ``relaykit connect openai``)."""
    register(OpenAI)
