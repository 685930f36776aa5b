"""``configure``: OpenTelemetry's SDK set up from the standard ``OTEL_*`` variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

from opentelemetry import metrics, trace

#: Variables that ask for an exporter; when none is set, ``configure_from_env`` does nothing.
EXPORTER_VARS: Final = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)


def configure(environ: Mapping[str, str] | None = None) -> bool:
    """Install SDK tracer and meter providers as OpenTelemetry's global ones, exporting as
    the ``OTEL_*`` variables say; return False (and change nothing) when
    ``OTEL_SDK_DISABLED=true`` or an SDK provider is installed already.

    ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER``: ``otlp`` (the default; OTLP over
    HTTP/protobuf, configured by ``OTEL_EXPORTER_OTLP_ENDPOINT``, ``..._HEADERS`` and the
    rest, read by the exporter itself), ``console`` or ``none``. The resource comes from
    ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` (service name ``relaykit`` when
    unset). Metrics are exported every ``OTEL_METRIC_EXPORT_INTERVAL`` ms (60000).
    """
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        MetricExporter,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return False
    name = env.get("OTEL_SERVICE_NAME") or "relaykit"
    resource = Resource.create({"service.name": name})
    tracer_provider = TracerProvider(resource=resource)
    span_exporter: SpanExporter | None
    match _choice(env, "OTEL_TRACES_EXPORTER"):
        case "none":
            span_exporter = None
        case "console":
            span_exporter = ConsoleSpanExporter()
        case _:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            span_exporter = OTLPSpanExporter()
    if span_exporter is not None:
        tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(tracer_provider)
    metric_exporter: MetricExporter | None
    match _choice(env, "OTEL_METRICS_EXPORTER"):
        case "none":
            metric_exporter = None
        case "console":
            metric_exporter = ConsoleMetricExporter()
        case _:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            metric_exporter = OTLPMetricExporter()
    readers = [] if metric_exporter is None else [PeriodicExportingMetricReader(metric_exporter)]
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    return True


def configure_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """``configure`` when one of ``EXPORTER_VARS`` is set (what the entry point does when
    relaykit loads the plugin); False otherwise."""
    env = os.environ if environ is None else environ
    if not any(env.get(v) for v in EXPORTER_VARS):
        return False
    return configure(env)


def _choice(env: Mapping[str, str], var: str) -> str:
    return (env.get(var) or "otlp").split(",")[0].strip().lower()
