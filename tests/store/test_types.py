"""mailwarden.store.types: secret references are stored as hashes."""

from __future__ import annotations

import hashlib

import pytest

from mailwarden.store import hash_secret_ref


def test_hash_secret_ref_is_sha256_hex_and_hides_the_value() -> None:
    digest = hash_secret_ref("state-abc")
    assert digest == hashlib.sha256(b"state-abc").hexdigest()
    assert "state-abc" not in digest


def test_hash_secret_ref_refuses_empty_values() -> None:
    with pytest.raises(ValueError):
        hash_secret_ref("")
