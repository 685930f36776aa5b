"""relaykit: durable background jobs with integrations, for Python.

Define a job with ``Client.define_job``; build its run function from ``io`` tasks, which are
memoized and retried, so a run survives crashes, deploys and long waits.
"""

import typing

from ._auth import Credentials, OAuth2
from ._client import Client
from ._context import Context, EventInfo, JobInfo, RunInfo, TaskInfo, current_task
from ._integration import Integration, TaskMethod, task
from ._io import IO, KeyValueStore, Logger, Status
from ._models import RunResult, RunStatus, TaskResult, TaskStatus
from ._plugins import PluginInfo, Plugins, TaskCall
from ._serde import parse_json
from ._version import __version__
from ._webhooks import WebhookEvent, WebhookRequest, WebhookResponse, WebhookSecrets
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
    UnknownJob,
    UnknownRun,
    UnknownTask,
    WebhookRejected,
)
from .filters import merge_filters
from .flow import CancelOn, Concurrency, ConcurrencyLimit, Debounce, Throttle
from .jobs import Job
from .retry import Retry
from .triggers import cron_trigger, event_trigger, interval_trigger, invoke_trigger
from .worker import Worker

if typing.TYPE_CHECKING:
    from ._hookimpl import hookimpl  # pluggy's marker itself
else:
    from ._plugins import hookimpl  # the same, made on first use (see _plugins)

__all__ = [
    "IO",
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
    "TaskCall",
    "TaskFailed",
    "TaskInfo",
    "TaskMethod",
    "TaskResult",
    "TaskStatus",
    "Throttle",
    "UnknownJob",
    "UnknownRun",
    "UnknownTask",
    "WebhookEvent",
    "WebhookRejected",
    "WebhookRequest",
    "WebhookResponse",
    "WebhookSecrets",
    "Worker",
    "__version__",
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
