"""The attacker's view: mailwarden's deployments served by a real `serve` process against the
test Prefect server, reached only through the Prefect API (run_deployment, events, resume)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVED = ["takeover-response", "threat-response", "protect-mailboxes", "process-notifications",
          "historic-scan", "onboard-tenant"]


class Served:
    """A running ``python -m deployments.serve --only ...`` and how to drive it as an API client."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc = proc
        self.log = log

    def run(self, name: str, parameters: dict[str, Any], *, timeout: float = 240) -> Any:
        """``run_deployment`` of ``<name>/<name>``; the finished (or paused) flow run."""
        from prefect.deployments import run_deployment

        return run_deployment(f"{name}/{name}", parameters=parameters, timeout=timeout, poll_interval=1)

    def start(self, name: str, parameters: dict[str, Any]) -> Any:
        """Create the run and return at once (its id), as an API client that does not wait would."""
        from prefect.deployments import run_deployment

        return run_deployment(f"{name}/{name}", parameters=parameters, timeout=0)

    def wait(self, run_id: Any, done: Any, timeout: float = 240) -> Any:
        """Poll the server until ``done(flow_run)`` holds; the flow run."""
        from prefect.client.orchestration import get_client

        deadline = time.monotonic() + timeout
        with get_client(sync_client=True) as client:
            while True:
                run = client.read_flow_run(run_id)
                if done(run):
                    return run
                assert self.proc.poll() is None, self.log.read_text()[-3000:]
                assert time.monotonic() < deadline, f"run {run_id} stuck in {run.state}"
                time.sleep(0.5)  # polling the server for the run's state


def _deployments_ready(names: list[str]) -> bool:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        have = {d.name for d in client.read_deployments()}
    return set(names) <= have


def _unserve(names: list[str]) -> None:
    """Delete the served deployments and their automations: the takeover trigger must not go on
    starting playbooks for the suspicious-rule events of later test modules."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        ids = set()
        for name in names:
            try:
                ids.add(client.read_deployment_by_name(f"{name}/{name}").id)
            except ObjectNotFound:
                pass
        for automation in client.read_automations():
            if any(getattr(a, "deployment_id", None) in ids for a in automation.actions):
                client.delete_automation(automation.id)
        for deployment_id in ids:
            client.delete_deployment(deployment_id)


@pytest.fixture(scope="module")
def served(prefect_harness: None, embedded: Any, session_data_dir: Path) -> Iterator[Served]:
    """The deployments an attacker who can only start runs would aim at, served for one module."""
    from prefect.settings import PREFECT_API_URL

    log = session_data_dir / "serve.log"
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PREFECT_LOGGING_LEVEL": "INFO",
           "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "deployments.serve", "--only", *SERVED],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not _deployments_ready(SERVED):
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the deployments never appeared: " + log.read_text()[-3000:]
            time.sleep(0.5)  # polling the server for the served deployments
        yield Served(proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        _unserve(SERVED)
