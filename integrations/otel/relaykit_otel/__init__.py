"""relaykit-otel: OpenTelemetry for relaykit (``pip install "relaykit[otel]"``).

Through relaykit's plugin hooks it emits a span per run attempt and per task, carries the W3C
trace context from where a run is started (``send_event``, ``enqueue``, ``invoke``, the HTTP
API and webhook deliveries) to its attempts and from a task into its integration's HTTP
requests, and records run and task metrics. See ``docs/observability.md``.

relaykit loads ``plugin`` (a ``Telemetry`` on OpenTelemetry's global providers) through the
``relaykit`` entry point; when an ``OTEL_*`` exporter variable is set and no SDK provider is
installed yet, loading it also calls ``configure()``.
"""

from __future__ import annotations

from ._configure import configure, configure_from_env
from ._telemetry import Telemetry
from ._version import __version__

__all__ = ["Telemetry", "__version__", "configure", "configure_from_env", "plugin"]

configure_from_env()
plugin = Telemetry()
"""The plugin the ``relaykit`` entry point names: spans and metrics on the global providers."""
