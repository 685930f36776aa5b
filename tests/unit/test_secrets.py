"""Encryption of stored credentials: Fernet, MultiFernet key rotation, and clear errors."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from relaykit._base.secrets import SecretBox
from relaykit.errors import ConfigurationError

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()
DATA = {"access_token": "tk_secret", "expires_at": 12.5}


def test_round_trip_does_not_contain_the_plaintext() -> None:
    box = SecretBox([OLD])
    token = box.encrypt(DATA)
    assert "tk_secret" not in token
    assert box.decrypt(token, what="x") == DATA


def test_rotation_first_key_encrypts_every_key_decrypts() -> None:
    stored = SecretBox([OLD]).encrypt(DATA)
    both = SecretBox.from_env({"RELAYKIT_SECRET_KEY": f"{NEW}, {OLD}"})
    assert both.decrypt(stored, what="x") == DATA  # old data still readable after adding NEW
    rotated = both.rotate(stored)
    only_new = SecretBox([NEW])
    assert only_new.decrypt(rotated, what="x") == DATA  # re-encrypted with the first key
    with pytest.raises(ConfigurationError, match="cannot decrypt the connection 'gh'"):
        only_new.decrypt(
            stored, what="the connection 'gh'"
        )  # OLD dropped: old ciphertext unreadable
    assert SecretBox([NEW]).decrypt(both.encrypt(DATA), what="x") == DATA


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "RELAYKIT_SECRET_KEY is not set"),
        ({"RELAYKIT_SECRET_KEY": " , "}, "RELAYKIT_SECRET_KEY is not set"),
        ({"RELAYKIT_SECRET_KEY": "not-a-key"}, "RELAYKIT_SECRET_KEY: key #1 is not a Fernet key"),
        ({"RELAYKIT_SECRET_KEY": f"{OLD},short"}, "key #2 is not a Fernet key"),
    ],
)
def test_a_missing_or_bad_key_is_one_clear_line(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        SecretBox.from_env(environ)
    text = str(info.value)
    assert message in text
    assert "\n" not in text
    assert "Fernet.generate_key()" in text  # says how to make one
