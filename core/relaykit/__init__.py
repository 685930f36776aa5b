"""relaykit: durable background jobs with integrations, for Python.

Define a job with ``Client.define_job``; build its run function from ``io`` tasks, which are
memoized and retried, so a run survives crashes, deploys and long waits.
"""

import typing

from ._base.serde import parse_json
from ._version import __version__
from .client import Client
from .definitions.context import Context, EventInfo, JobInfo, RunInfo, TaskInfo, current_task
from .definitions.filters import merge_filters
from .definitions.flow import CancelOn, Concurrency, ConcurrencyLimit, Debounce, Throttle
from .definitions.jobs import Job
from .definitions.retry import Retry
from .definitions.triggers import cron_trigger, event_trigger, interval_trigger, invoke_trigger
from .engine.io import IO, KeyValueStore, Logger, Status
from .engine.worker import Worker
from .errors import (
    DuplicateJob,
    DuplicateTaskKey,
    FetchError,
    IntegrationError,
    InvalidJobDefinition,
    JsonTooDeep,
    MissingConnection,
    NonDeterministicRun,
    NonRetriable,
    PayloadTooLarge,
    RelaykitError,
    RetryAfter,
    SerializationError,
    TaskFailed,
    TokenNotWaiting,
    UnknownJob,
    UnknownRun,
    UnknownTask,
    UnknownToken,
    WebhookRejected,
)
from .integrations.auth import Credentials, OAuth2
from .integrations.base import Integration, TaskMethod, api_task, task
from .integrations.plugins import AttemptCall, AttemptEnd, PluginInfo, Plugins, TaskCall
from .integrations.webhooks import WebhookEvent, WebhookRequest, WebhookResponse, WebhookSecrets
from .records import RunResult, RunStatus, TaskAttempt, TaskResult, TaskStatus

if typing.TYPE_CHECKING:
    from .integrations.hookimpl import hookimpl  # pluggy's marker itself
else:
    from .integrations.plugins import hookimpl  # the same, made on first use (see _plugins)

__all__ = [
    "IO",
    "AttemptCall",
    "AttemptEnd",
    "CancelOn",
    "Client",
    "Concurrency",
    "ConcurrencyLimit",
    "Context",
    "Credentials",
    "Debounce",
    "DuplicateJob",
    "DuplicateTaskKey",
    "EventInfo",
    "FetchError",
    "Integration",
    "IntegrationError",
    "InvalidJobDefinition",
    "Job",
    "JobInfo",
    "JsonTooDeep",
    "KeyValueStore",
    "Logger",
    "MissingConnection",
    "NonDeterministicRun",
    "NonRetriable",
    "OAuth2",
    "PayloadTooLarge",
    "PluginInfo",
    "Plugins",
    "RelaykitError",
    "Retry",
    "RetryAfter",
    "RunInfo",
    "RunResult",
    "RunStatus",
    "SerializationError",
    "Status",
    "TaskAttempt",
    "TaskCall",
    "TaskFailed",
    "TaskInfo",
    "TaskMethod",
    "TaskResult",
    "TaskStatus",
    "Throttle",
    "TokenNotWaiting",
    "UnknownJob",
    "UnknownRun",
    "UnknownTask",
    "UnknownToken",
    "WebhookEvent",
    "WebhookRejected",
    "WebhookRequest",
    "WebhookResponse",
    "WebhookSecrets",
    "Worker",
    "__version__",
    "api_task",
    "cron_trigger",
    "current_task",
    "event_trigger",
    "hookimpl",
    "interval_trigger",
    "invoke_trigger",
    "merge_filters",
    "parse_json",
    "task",
]
