"""OpenAI's API description as the tests check it: the extract in ``data/``, ``with_overlay``.

The description declares only the success response of most operations (and a 429 for some),
while OpenAI's "Error codes" guide documents 401, 403, 404, 500, 503 ... for every endpoint,
with the body the description itself defines as ``ErrorResponse``. So that an error cassette is
checked too (rather than not at all), each operation gains ``4XX``/``5XX`` responses with that
schema where it declares none. And ``GET /files/{file_id}/content`` serves the file's bytes
(``application/octet-stream``), which the description types as a JSON string only.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tests.spec_check import OpenAPISpec

HERE = Path(__file__).resolve().parent
OPERATIONS_FILE = HERE / "data" / "openai-operations.json"

ERROR_RESPONSE = {
    "description": "An error (OpenAI's 'Error codes' guide)",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
}
FILE_BYTES = {"schema": {"type": "string", "format": "binary"}}

OVERLAY_NOTE = (
    "relaykit overlay: 4XX/5XX ErrorResponse on every operation; application/octet-stream on "
    "GET /files/{file_id}/content (see integrations/openai/tests/openai_spec.py)"
)


def with_overlay(document: Any) -> Any:
    """A copy of the extract with the documented error responses and file bytes added."""
    out = copy.deepcopy(document)
    for item in out["paths"].values():
        for operation in item.values():
            responses = operation["responses"]
            for key in ("4XX", "5XX"):
                responses.setdefault(key, ERROR_RESPONSE)
    content = out["paths"]["/files/{file_id}/content"]["get"]["responses"]["200"]["content"]
    content.setdefault("application/octet-stream", FILE_BYTES)
    out["info"]["x-relaykit-overlay"] = OVERLAY_NOTE
    return out


def load_spec() -> OpenAPISpec:
    """The checked description: the extract with ``with_overlay`` applied."""
    document = json.loads(OPERATIONS_FILE.read_text())
    return OpenAPISpec(with_overlay(document), name="openai-operations.json (+ overlay)")
