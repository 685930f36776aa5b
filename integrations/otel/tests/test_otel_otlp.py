"""relaykit-otel end to end, as a user runs it: a fresh process with ``OTEL_*`` variables only,
the plugin found through its ``relaykit`` entry point, spans and metrics exported over
OTLP/HTTP (the SDK's own exporter) to a receiver that decodes them with the OTLP protobuf
definitions (``opentelemetry-proto``).

No OpenTelemetry Collector installs from the package registries this suite may use (the
collector is a Go binary; ``otelcol-contrib`` is not on PyPI, npm or Debian), so the receiver
is this test's: an HTTP server accepting ``POST /v1/traces`` and ``/v1/metrics``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ROOT = Path(__file__).resolve().parents[3]

APP = """
import asyncio

from opentelemetry import metrics, trace

import relaykit

client = relaykit.Client("shop", database_url="sqlite:///{db}")


@client.define_job(id="checkout", version="3.0.0")
async def checkout(payload, io, ctx):
    return await io.run_task("charge", lambda: "charged")


async def main():
    await client.run("checkout", {{}})
    names = [p.name for p in client.plugins.list()]
    await client.close()
    trace.get_tracer_provider().shutdown()  # flushes the spans
    metrics.get_meter_provider().shutdown()  # and the metrics
    print("plugins:", names)


asyncio.run(main())
"""


class Receiver:
    """What an OTLP/HTTP endpoint received, decoded."""

    def __init__(self) -> None:
        self.traces: list[ExportTraceServiceRequest] = []
        self.metrics: list[ExportMetricsServiceRequest] = []
        self.content_types: set[str] = set()


@pytest.fixture
def receiver() -> Iterator[tuple[str, Receiver]]:
    got = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            got.content_types.add(self.headers.get("content-type", ""))
            if self.path == "/v1/traces":
                got.traces.append(ExportTraceServiceRequest.FromString(body))
            elif self.path == "/v1/metrics":
                got.metrics.append(ExportMetricsServiceRequest.FromString(body))
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", got
    finally:
        server.shutdown()
        server.server_close()


def _installed_like(folder: Path) -> None:
    """relaykit-otel's metadata with its entry point, as pip installs it."""
    info = folder / "relaykit_otel-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: relaykit-otel\nVersion: 0.1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[relaykit]\notel = relaykit_otel:plugin\n", encoding="utf-8"
    )


@pytest.mark.slow
def test_a_process_configured_by_otel_variables_exports_over_otlp(
    tmp_path: Path, receiver: tuple[str, Receiver]
) -> None:
    url, got = receiver
    _installed_like(tmp_path / "site")
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(APP.format(db=tmp_path / "db.sqlite")), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "RELAYKIT_PLUGINS"))}
    env |= {
        "OTEL_EXPORTER_OTLP_ENDPOINT": url,
        "OTEL_SERVICE_NAME": "shop-worker",
        "PYTHONPATH": os.pathsep.join(
            [str(tmp_path / "site"), str(ROOT / "integrations" / "otel"), str(ROOT)]
        ),
    }
    done = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "plugins: ['otel']" in done.stdout  # found through the entry point

    spans = {
        span.name: (resource, span)
        for request in got.traces
        for rs in request.resource_spans
        for resource in [{a.key: a.value.string_value for a in rs.resource.attributes}]
        for ss in rs.scope_spans
        for span in ss.spans
    }
    assert set(spans) == {"relaykit.run checkout", "relaykit.task charge"}
    resource, run_span = spans["relaykit.run checkout"]
    assert resource["service.name"] == "shop-worker"
    attributes = {a.key: a.value for a in run_span.attributes}
    assert attributes["relaykit.job.version"].string_value == "3.0.0"
    assert attributes["relaykit.run.status"].string_value == "succeeded"
    _, task_span = spans["relaykit.task charge"]
    assert task_span.parent_span_id == run_span.span_id
    metric_names = {
        metric.name
        for request in got.metrics
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
    assert {"relaykit.runs.started", "relaykit.runs.finished", "relaykit.task.duration"} <= (
        metric_names
    )
    assert got.content_types == {"application/x-protobuf"}
