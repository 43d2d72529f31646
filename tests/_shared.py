"""Data from the ``shared/`` folder beside the repository: Microsoft's Graph schema, the real-mail corpus.

Tests that read it call :func:`require_shared`. Locally a missing file skips the test; under
``CI=true`` it fails the test, so CI cannot go green by silently skipping what it was meant to run.
``MAILWARDEN_SHARED_DIR`` points at another copy of the folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MAILWARDEN_SHARED_DIR", REPO.parent / "shared"))


def in_ci() -> bool:
    """``CI=true``: missing data is a failure, not a skip."""
    return os.environ.get("CI", "").lower() == "true"


def require_shared(*relative: str, what: str) -> list[Path]:
    """The paths under the shared folder; skip the test when one is missing (fail it under CI)."""
    paths = [SHARED / name for name in relative]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        message = (f"{what} not found: {', '.join(missing)} "
                   "(MAILWARDEN_SHARED_DIR names the folder holding graph-schema/ and corpus/)")
        if in_ci():
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(message)
    return paths
