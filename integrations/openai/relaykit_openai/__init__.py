"""relaykit-openai: OpenAI for relaykit jobs.

``OpenAI`` is the integration: declare ``OpenAI(id="openai")`` on a job and call
``io.openai.create_chat_completion(key, ...)``; each call is a memoized, retried task. It is
registered with relaykit through the ``relaykit`` entry point (``relaykit plugins``).

Underneath, the calls (``create_chat_completion``, ``create_batch``, ...) are plain async
functions over the ``openai.AsyncOpenAI`` client from ``create_client`` (SDK retries off:
relaykit owns retries). Each returns a JSON-able dict; failures are classified into relaykit's
``RetryAfter`` / ``NonRetriable`` errors; ``response_status``, ``file_status`` and
``batch_status`` are the polling steps of durable waits.
"""

from ._classify import classify, parse_duration, rate_limit_delay
from ._client import API_URL, create_client
from ._files import (
    batch_results,
    batch_status,
    create_batch,
    create_file,
    file_content,
    file_status,
    retrieve_batch,
    retrieve_file,
)
from ._generate import (
    create_chat_completion,
    create_embedding,
    create_response,
    generate_image,
    response_status,
    retrieve_response,
)
from ._integration import MAX_POLLS, OpenAI, relaykit_register_integrations
from ._models import list_models, retrieve_model, usage_properties
from .errors import (
    OpenAIError,
    OpenAIJobFailed,
    OpenAIQuotaExceeded,
    OpenAIRateLimited,
    OpenAIRequestError,
    OpenAIStillRunning,
    OpenAITransientError,
    OpenAIWaitTimedOut,
)

__version__ = "0.1.0"

__all__ = [
    "API_URL",
    "MAX_POLLS",
    "OpenAI",
    "OpenAIError",
    "OpenAIJobFailed",
    "OpenAIQuotaExceeded",
    "OpenAIRateLimited",
    "OpenAIRequestError",
    "OpenAIStillRunning",
    "OpenAITransientError",
    "OpenAIWaitTimedOut",
    "__version__",
    "batch_results",
    "batch_status",
    "classify",
    "create_batch",
    "create_chat_completion",
    "create_client",
    "create_embedding",
    "create_file",
    "create_response",
    "file_content",
    "file_status",
    "generate_image",
    "list_models",
    "parse_duration",
    "rate_limit_delay",
    "relaykit_register_integrations",
    "response_status",
    "retrieve_batch",
    "retrieve_file",
    "retrieve_model",
    "retrieve_response",
    "usage_properties",
]
