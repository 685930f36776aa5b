"""Regenerate ``relaykit_github/webhook_examples.json.gz``: the sample deliveries
``GitHub.example_delivery`` builds (``relaykit webhooks send github SOURCE --example NAME``).

One example per (event, action) of the events jobs most often trigger on, taken unchanged from
GitHub's published examples: the npm package ``@octokit/webhooks-examples`` 7.6.1
(``api.github.com/index.json``, MIT). Run from the repository root::

    python integrations/github/scripts/make_webhook_examples.py [--specs ../shared/specs] [--out F]
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
TARGET = HERE.parent / "relaykit_github" / "webhook_examples.json.gz"
#: The events shipped (every action each has an example of).
EVENTS = (
    "ping",
    "push",
    "create",
    "delete",
    "issues",
    "issue_comment",
    "label",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "release",
    "star",
    "workflow_run",
    "workflow_job",
)
SOURCE = "@octokit/webhooks-examples 7.6.1, api.github.com/index.json (MIT licence)"


def extract(events: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"source": ..., "examples": {"issues.opened": {"event": "issues", "body": {...}}}}``:
    the first example of each (event, action)."""
    chosen: dict[str, Any] = {}
    for event in events:
        if event["name"] not in EVENTS:
            continue
        for body in event["examples"]:
            action = body.get("action")
            name = f"{event['name']}.{action}" if isinstance(action, str) else event["name"]
            chosen.setdefault(name, {"event": event["name"], "body": body})
    return {"source": SOURCE, "examples": dict(sorted(chosen.items()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=Path, default=ROOT.parent / "shared" / "specs")
    parser.add_argument("--out", type=Path, default=TARGET)
    args = parser.parse_args()
    with gzip.open(args.specs / "github-webhook-examples.json.gz", "rt", encoding="utf-8") as fh:
        events = json.load(fh)
    data = json.dumps(extract(events), separators=(",", ":"), sort_keys=True).encode()
    # mtime=0: the same input makes the same bytes
    args.out.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
