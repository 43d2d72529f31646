"""Reset passwords: strong, random, refused when too short."""

from __future__ import annotations

import re

import pytest

from mailwarden.takeover.password import generate_password


def test_generated_passwords_meet_entra_complexity_and_differ() -> None:
    seen = {generate_password() for _ in range(50)}
    assert len(seen) == 50
    for pw in seen:
        assert len(pw) == 24
        assert re.search(r"[a-z]", pw) and re.search(r"[A-Z]", pw) and re.search(r"\d", pw)
        assert re.search(r"[^A-Za-z0-9]", pw)


def test_short_passwords_are_refused() -> None:
    with pytest.raises(ValueError, match="12"):
        generate_password(8)
