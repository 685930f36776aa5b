"""Signatures of endpoint-mode traffic: HMAC-SHA256 under ``RELAYKIT_ENDPOINT_SECRET``.

relaykit signs each request it sends to a user's endpoint; the endpoint signs each line of
its answer. Both sides hold the same secret (``RELAYKIT_ENDPOINT_SECRET``).

A request carries ``X-Relaykit-Timestamp`` (integer epoch seconds) and
``X-Relaykit-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``. A request older
(or further in the future) than the replay window (5 minutes) is refused, as is one whose
signature was seen before inside the window (one process's memory: a replay to another
instance of a scaled-out endpoint is not caught, but its writes would still be refused by the
attempt's epoch on the relaykit side).

An answer line is ``<hex HMAC(secret, "<request signature>.<seq>.<json>")> <json>``: bound
to the request it answers (a line cannot be replayed into another request's answer) and to
its position (lines cannot be dropped or reordered without a signature failing).

The secret is never logged, formatted into an error, or stored; comparisons are
constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Final, final

from ..errors import ConfigurationError, SignatureRejected

ENDPOINT_SECRET_ENV: Final = "RELAYKIT_ENDPOINT_SECRET"  # noqa: S105 -- a variable name
TIMESTAMP_HEADER: Final = "x-relaykit-timestamp"
SIGNATURE_HEADER: Final = "x-relaykit-signature"
#: How far a request's timestamp may be from the receiver's clock, either way (seconds).
REPLAY_WINDOW: Final = 300.0
_MIN_SECRET_BYTES: Final = 16


def endpoint_secret(explicit: str | None = None) -> bytes:
    """The shared secret: ``explicit``, else ``RELAYKIT_ENDPOINT_SECRET``; a clear error when
    it is missing or too short (never echoing it)."""
    raw = explicit if explicit is not None else os.environ.get(ENDPOINT_SECRET_ENV, "")
    secret = raw.strip().encode()
    if len(secret) < _MIN_SECRET_BYTES:
        what = "the secret passed" if explicit is not None else ENDPOINT_SECRET_ENV
        state = "is not set" if not secret else f"is shorter than {_MIN_SECRET_BYTES} bytes"
        raise ConfigurationError(
            f"{what} {state}; set {ENDPOINT_SECRET_ENV} to the same random value on relaykit "
            'and on the endpoint, e.g. `python -c "import secrets; '
            'print(secrets.token_urlsafe(32))"`'
        )
    return secret


def _mac(secret: bytes, *parts: bytes) -> str:
    return hmac.new(secret, b".".join(parts), hashlib.sha256).hexdigest()


@final
class Signer:
    """Signs and verifies endpoint traffic with one secret (``repr`` never shows it)."""

    __slots__ = ("_secret", "_seen", "window")

    def __init__(self, secret: bytes, *, window: float = REPLAY_WINDOW) -> None:
        self._secret = secret
        self.window = window
        # request signatures accepted inside the window (oldest first): a replay is refused
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __repr__(self) -> str:
        return "<Signer secret=***>"

    # -- requests -------------------------------------------------------------------------

    def sign_request(self, body: bytes, *, now: float | None = None) -> dict[str, str]:
        """The headers that sign ``body`` at ``now`` (default: the current time)."""
        ts = str(int(time.time() if now is None else now))
        signature = "v1=" + _mac(self._secret, ts.encode(), body)
        return {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: signature}

    def verify_request(
        self, headers: Mapping[str, str], body: bytes, *, now: float | None = None
    ) -> str:
        """Check a request's signature and freshness; return its signature (to sign the
        answer with). Raises ``SignatureRejected`` saying which check failed."""
        now = time.time() if now is None else now
        ts = headers.get(TIMESTAMP_HEADER)
        given = headers.get(SIGNATURE_HEADER)
        if not ts or not given:
            raise SignatureRejected(
                f"the request is not signed (no {TIMESTAMP_HEADER} / {SIGNATURE_HEADER} "
                f"header); relaykit signs with {ENDPOINT_SECRET_ENV}"
            )
        if not ts.isdigit():
            raise SignatureRejected(f"the {TIMESTAMP_HEADER} header is not epoch seconds")
        if abs(now - int(ts)) > self.window:
            raise SignatureRejected(
                f"the request's timestamp is more than {self.window:g}s from this clock "
                "(a replayed request, or clocks out of sync)"
            )
        expected = "v1=" + _mac(self._secret, ts.encode(), body)
        if not hmac.compare_digest(expected.encode(), given.strip().encode()):
            raise SignatureRejected(
                f"the request's signature does not match; is {ENDPOINT_SECRET_ENV} the same "
                "on relaykit and on the endpoint?"
            )
        self._forget(now)
        if given in self._seen:
            raise SignatureRejected("this signed request was already received (a replay)")
        self._seen[given] = int(ts) + self.window
        return given

    def _forget(self, now: float) -> None:
        while self._seen:
            oldest, until = next(iter(self._seen.items()))
            if until >= now:
                break
            del self._seen[oldest]

    # -- answer lines ---------------------------------------------------------------------

    def sign_line(self, request_signature: str, seq: int, data: bytes) -> bytes:
        """One signed line of an answer (``data`` is JSON without a newline)."""
        mac = _mac(self._secret, request_signature.encode(), str(seq).encode(), data)
        return mac.encode() + b" " + data + b"\n"

    def verify_line(self, request_signature: str, seq: int, line: bytes) -> bytes:
        """The JSON of a signed answer line, or ``SignatureRejected``."""
        mac, sep, data = line.rstrip(b"\n").partition(b" ")
        if not sep:
            raise SignatureRejected(f"line {seq} of the endpoint's answer is not signed")
        expected = _mac(self._secret, request_signature.encode(), str(seq).encode(), data)
        if not hmac.compare_digest(expected.encode(), mac):
            raise SignatureRejected(
                f"line {seq} of the endpoint's answer has a wrong signature; is "
                f"{ENDPOINT_SECRET_ENV} the same on relaykit and on the endpoint?"
            )
        return data
