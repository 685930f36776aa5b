"""Request bodies of the JSON API (pydantic models; their JSON Schemas go into the OpenAPI
document, so the document and the validation cannot drift apart). Strict: ``false`` is not a
number and ``1`` is not a string, exactly as the JSON Schema says."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: A run status as a filter names it (``relaykit.records.RunStatus``'s values).
RunStatusName = Literal[
    "queued",
    "running",
    "waiting",
    "waiting_for_connection",
    "succeeded",
    "failed",
    "canceled",
    "timed_out",
    "invalid_payload",
]

#: An event id a client picks: printable ASCII without spaces (it is used in URLs).
EVENT_ID_PATTERN = r"^[!-~]{1,200}$"


class SendEventBody(BaseModel):
    """``POST /api/v1/events``."""

    model_config = ConfigDict(extra="forbid", strict=True, title="SendEvent")

    # Not blank, and no NUL (which PostgreSQL text cannot hold). "Blank" is what Python's
    # str.strip() removes (the engine's check): \s, plus the separators \x1c-\x1f and NEL
    # that Python counts as space and JSON Schema's (ECMAScript's) \s does not, plus the BOM
    # that ECMAScript's \s has and Python's does not, so every validator agrees.
    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00]*[^\s\x00\x1c-\x1f\x85\ufeff][^\x00]*$",
        description="The event name (not blank, no NUL character).",
    )
    payload: Any = Field(default=None, description="Any JSON value.")
    id: str | None = Field(
        default=None,
        pattern=EVENT_ID_PATTERN,
        description="Deduplication id: sending the same id again does nothing.",
    )
    deliver_after: float | None = Field(
        default=None,
        ge=0,
        le=366 * 86400,
        allow_inf_nan=False,
        description="Deliver the event this many seconds from now.",
    )


class TestRunBody(BaseModel):
    """``POST /api/v1/jobs/{job_id}/runs`` (an empty body means a null payload)."""

    model_config = ConfigDict(extra="forbid", strict=True, title="TestRun")

    payload: Any = Field(default=None, description="The run's payload (any JSON value).")


class KvBody(BaseModel):
    """``PUT /api/v1/kv/{namespace}/{owner}/{name}``."""

    model_config = ConfigDict(extra="forbid", strict=True, title="KvValue")

    value: Any = Field(description="Any JSON value.")


class RetryBody(BaseModel):
    """``POST /api/v1/runs/{run_id}/retry`` (an empty body: resume where it stopped)."""

    model_config = ConfigDict(extra="forbid", strict=True, title="RetryRun")

    from_task: str | None = Field(
        default=None,
        min_length=1,
        description="Fork from this task key: keep only the tasks completed before it.",
    )
    payload: Any = Field(
        default=None,
        description="Run with this payload instead (any JSON value; leave out to keep it).",
    )


class ReplayBody(BaseModel):
    """``POST /api/v1/runs/{run_id}/replay`` (an empty body: replay with the same payload)."""

    model_config = ConfigDict(extra="forbid", strict=True, title="ReplayRun")

    payload: Any = Field(
        default=None,
        description="Replay with this payload instead (any JSON value; leave out to keep it).",
    )


class BulkFilters(BaseModel):
    """Which runs a bulk action acts on: every filter given must hold."""

    model_config = ConfigDict(extra="forbid", strict=True, title="BulkFilters")

    job: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[^\x00]*$")
    status: RunStatusName | None = None
    tag: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[^\x00]*$")
    version: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[^\x00]*$")
    since: float | None = Field(
        default=None,
        description="Created at or after (epoch seconds).",
        ge=0,
        le=1e11,
        allow_inf_nan=False,
    )
    until: float | None = Field(
        default=None,
        description="Created at or before (epoch seconds).",
        ge=0,
        le=1e11,
        allow_inf_nan=False,
    )


class BulkBody(BaseModel):
    """``POST /api/v1/runs/bulk``."""

    model_config = ConfigDict(extra="forbid", strict=True, title="BulkAction")

    action: Literal["cancel", "replay", "retry"]
    filters: BulkFilters | None = Field(default=None, description="None: every run.")
    dry_run: bool = Field(default=False, description="Count the runs; change nothing.")
