"""Strong random passwords for a takeover reset (``secrets``); never logged, stored or returned."""

from __future__ import annotations

import secrets
import string

_SYMBOLS = "!#$%&()*+-.:;<=>?@[]^_{}~"
_ALPHABET = string.ascii_letters + string.digits + _SYMBOLS


def generate_password(length: int = 24) -> str:
    """A random password with lower, upper, digit and symbol characters (Entra ID complexity)."""
    if length < 12:
        raise ValueError("a reset password must have at least 12 characters")
    required = [secrets.choice(string.ascii_lowercase), secrets.choice(string.ascii_uppercase),
                secrets.choice(string.digits), secrets.choice(_SYMBOLS)]
    chars = required + [secrets.choice(_ALPHABET) for _ in range(length - len(required))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)
