"""Endpoint-mode signatures: HMAC over timestamp + body, a replay window, signed answers."""

from __future__ import annotations

import pytest

from relaykit._base.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, Signer, endpoint_secret
from relaykit.errors import ConfigurationError, SignatureRejected

SECRET = b"s3cret-s3cret-s3cret-s3cret"
NOW = 1_800_000_000.0


def test_a_signed_request_verifies_and_returns_its_signature() -> None:
    signer = Signer(SECRET)
    headers = signer.sign_request(b'{"a":1}', now=NOW)
    assert signer.verify_request(headers, b'{"a":1}', now=NOW + 10) == headers[SIGNATURE_HEADER]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        # the body was altered after signing
        (lambda h, b: (h, b + b" "), "does not match"),
        # no signature at all
        (lambda h, b: ({}, b), "not signed"),
        # signed with another secret
        (lambda h, b: (Signer(b"another-secret-0123456789").sign_request(b, now=NOW), b), "match"),
        # the timestamp header changed (it is signed too)
        (lambda h, b: ({**h, TIMESTAMP_HEADER: str(int(NOW) + 1)}, b), "does not match"),
        # not a number
        (lambda h, b: ({**h, TIMESTAMP_HEADER: "soon"}, b), "epoch seconds"),
    ],
)
def test_bad_requests_are_refused(change: object, why: str) -> None:
    signer = Signer(SECRET)
    body = b'{"a":1}'
    headers, sent = change(signer.sign_request(body, now=NOW), body)  # type: ignore[operator]
    with pytest.raises(SignatureRejected, match=why):
        signer.verify_request(headers, sent, now=NOW)


def test_a_stale_request_and_a_replayed_one_are_refused() -> None:
    signer = Signer(SECRET)
    old = signer.sign_request(b"{}", now=NOW - 301)
    with pytest.raises(SignatureRejected, match="timestamp"):
        signer.verify_request(old, b"{}", now=NOW)
    fresh = signer.sign_request(b"{}", now=NOW)
    signer.verify_request(fresh, b"{}", now=NOW)
    with pytest.raises(SignatureRejected, match="replay"):
        signer.verify_request(fresh, b"{}", now=NOW + 1)


def test_answer_lines_are_bound_to_their_request_and_position() -> None:
    signer = Signer(SECRET)
    line = signer.sign_line("v1=req", 0, b'{"t":"end"}')
    assert signer.verify_line("v1=req", 0, line) == b'{"t":"end"}'
    for request, seq in (("v1=other", 0), ("v1=req", 1)):
        with pytest.raises(SignatureRejected, match="wrong signature"):
            signer.verify_line(request, seq, line)
    with pytest.raises(SignatureRejected, match="not signed"):
        signer.verify_line("v1=req", 0, b'{"t":"end"}')


def test_the_secret_is_required_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELAYKIT_ENDPOINT_SECRET", raising=False)
    with pytest.raises(ConfigurationError, match="RELAYKIT_ENDPOINT_SECRET is not set"):
        endpoint_secret()
    with pytest.raises(ConfigurationError, match="shorter") as info:
        endpoint_secret("tiny-secret")
    assert "tiny-secret" not in str(info.value)
    assert "s3cret" not in repr(Signer(SECRET))


def test_the_endpoint_url_is_shown_without_credentials_or_query() -> None:
    from relaykit.engine.remote import RemoteEndpoint

    remote = RemoteEndpoint(
        "https://me:pw@shop.example.com:8443/api/relaykit/?token=t", secret=SECRET.decode()
    )
    assert remote.shown_url == "https://shop.example.com:8443/api/relaykit/"
    assert "pw" not in repr(remote) and "token" not in repr(remote)
