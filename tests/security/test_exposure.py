"""`mailwarden serve` refuses a Prefect API open beyond this machine without auth and CSRF."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deployments.exposure import ExposedPrefectApi, PrefectExposure, check_prefect_exposure
from mailwarden.hosts import is_loopback_host as is_loopback

REPO = Path(__file__).resolve().parents[2]


def _serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return subprocess.run([sys.executable, "-m", "deployments.cli", "serve"], cwd=REPO, env={**clean, **env},
                          capture_output=True, text=True, timeout=120, check=False)


def test_serve_refuses_a_server_bound_beyond_loopback_without_auth_or_csrf() -> None:
    proc = _serve({"PREFECT_SERVER_API_HOST": "0.0.0.0", "PREFECT_API_URL": "http://127.0.0.1:9/api"})
    assert proc.returncode != 0
    assert "PREFECT_SERVER_API_AUTH_STRING" in proc.stderr and "CSRF" in proc.stderr


def test_serve_refuses_a_remote_api_without_an_auth_string_before_connecting() -> None:
    # a name that cannot resolve: had the guard let it through, serve would fail on DNS instead
    proc = _serve({"PREFECT_API_URL": "http://prefect.invalid:4200/api"})
    assert proc.returncode != 0
    assert "refusing to start" in proc.stderr and "PREFECT_API_AUTH_STRING" in proc.stderr


@pytest.mark.parametrize(("exposure", "refused"), [
    (PrefectExposure("http://127.0.0.1:4200/api", "127.0.0.1", False, False, False), False),
    (PrefectExposure("http://localhost:4200/api", "::1", False, False, False), False),
    (PrefectExposure("http://127.0.0.1:4200/api", "0.0.0.0", False, True, True), False),
    (PrefectExposure("http://127.0.0.1:4200/api", "0.0.0.0", False, True, False), True),
    (PrefectExposure("http://127.0.0.1:4200/api", "0.0.0.0", False, False, True), True),
    (PrefectExposure("https://prefect.example/api", "127.0.0.1", True, False, False), False),
    (PrefectExposure("https://prefect.example/api", "127.0.0.1", False, False, False), True),
    (PrefectExposure("http://127.1.2.3:4200/api", "127.0.0.2", False, False, False), False),
])
def test_only_loopback_or_guarded_apis_pass(exposure: PrefectExposure, refused: bool) -> None:
    if refused:
        with pytest.raises(ExposedPrefectApi):
            check_prefect_exposure(exposure)
    else:
        check_prefect_exposure(exposure)


def test_loopback_means_the_loopback_range_only() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.9.9.9", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.1", "::", "example.com", "127.0.0.1.nip.io"))
