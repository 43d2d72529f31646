"""The README's first command, end to end: the demo runs every flow against the sandbox tenant.

Slow (a real Prefect server, a serving process and every flow): run with ``make test-slow``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.timeout(1600)  # the demo itself is bounded at 1500 s below
def test_demo_runs_every_flow_to_completion_and_says_where_to_look(tmp_path: Path) -> None:
    env = dict(os.environ)
    for key in [k for k in env if k.startswith("PREFECT_")]:
        del env[key]
    env.update(
        {
            "MAILWARDEN_PREFECT_PORT": str(free_port()),
            "MAILWARDEN_SANDBOX_PORT": str(free_port()),
            "MAILWARDEN_CALLBACK_PORT": str(free_port()),
            "MAILWARDEN_STORE_URL": f"sqlite:///{tmp_path / 'store.sqlite'}",
        }
    )
    proc = subprocess.run(
        [sys.executable, "-m", "deployments.cli", "demo", "--exit", "--data-dir", str(tmp_path / "data")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1500,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    summary = out.split("[mailwarden] summary", 1)[1]
    for label in ("onboard", "reconcile", "historic scan, report only", "historic scan, remediate",
                  "rules audit", "takeover response", "recall a message"):
        assert label in summary, summary
    assert "Failed" not in summary and "Crashed" not in summary, summary
    assert "Prefect UI:" in summary
    assert "historic scan, remediate: detection against the sandbox's ground truth" in summary, summary
    assert "| **all** |" in summary, summary
