"""Model tasks, and turning a result's token usage into task properties."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import openai

from ._client import JSONObject, api, dump


async def list_models(client: openai.AsyncOpenAI) -> list[JSONObject]:
    """``GET /models``: every model the key's project can use."""
    page = await api(client.models.list())
    return [dump(model) for model in page.data]


async def retrieve_model(client: openai.AsyncOpenAI, *, model: str) -> JSONObject:
    """``GET /models/{model}``: one model's id, owner and creation time."""
    return dump(await api(client.models.retrieve(model)))


# Chat completions and embeddings count prompt/completion tokens; responses and images count
# input/output tokens. Both are shown under the chat names, which most dashboards use.
_RENAMED = {"input_tokens": "prompt_tokens", "output_tokens": "completion_tokens"}
_DETAILS = {
    "prompt_tokens_details": ("cached_tokens",),
    "input_tokens_details": ("cached_tokens",),
    "completion_tokens_details": ("reasoning_tokens",),
    "output_tokens_details": ("reasoning_tokens",),
}


def usage_properties(result: Mapping[str, Any]) -> dict[str, int | str]:
    """A task's properties from a result's token usage: ``prompt_tokens``,
    ``completion_tokens``, ``total_tokens`` (and ``cached_tokens`` / ``reasoning_tokens`` when
    OpenAI reports them), plus the ``model`` that answered. Empty when the result has no usage
    (a queued background response, a file, a model).
    """
    usage = result.get("usage")
    if not isinstance(usage, Mapping):
        return {}
    properties: dict[str, int | str] = {}
    if isinstance(result.get("model"), str):
        properties["model"] = result["model"]
    for name in ("prompt_tokens", "completion_tokens", "input_tokens", "output_tokens"):
        if isinstance(usage.get(name), int):
            properties[_RENAMED.get(name, name)] = usage[name]
    if isinstance(usage.get("total_tokens"), int):
        properties["total_tokens"] = usage["total_tokens"]
    for group, names in _DETAILS.items():
        details = usage.get(group)
        for name in names:
            if isinstance(details, Mapping) and isinstance(details.get(name), int):
                properties[name] = details[name]
    return properties
