"""``historic-scan``'s ``ground_truth`` is no port scanner and no file oracle (issue 16, attack 5).

The attacker can start runs with parameters of their choice. They try ``ground_truth`` as a URL of
a listening loopback service, a ``file://`` URL, an absolute path, ``..`` and a symlink out of the
operator's ground-truth folder: each is refused when the run's parameters are validated, before
any scan, and the listener hears nothing. A file inside the folder that cannot be read or parsed
gives one fixed message in the result and the summary, whatever the reason, and neither the
loader's error text nor the file's content.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from mailwarden.scan.ground_truth import (
    UNREADABLE_FILE,
    GroundTruthRefused,
    GroundTruthUnreadable,
    load_ground_truth,
)
from mailwarden.settings import get_settings
from tests.security._standin import StandIn

pytestmark = pytest.mark.usefixtures("prefect_harness")
SINCE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
MARKER = "TOPSECRET-" + os.urandom(6).hex()


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The operator's ground-truth folder, with a secret file beside it and a symlink pointing at it."""
    path = tmp_path / "truth"
    path.mkdir()
    (path / "sub").mkdir()
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps([{"label": "phishing", "internet_message_id": f"<{MARKER}>"}]))
    (path / "escape.json").symlink_to(secret)
    (path / "sub" / "up").symlink_to(tmp_path)
    monkeypatch.setenv("MAILWARDEN_GROUND_TRUTH_DIR", str(path))
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


@pytest.fixture
def server_log() -> Iterator[list[str]]:
    """What the loader logs on the server (its module logger, which Prefect does not ship to the API)."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger("mailwarden.scan.ground_truth")
    handler = Keep(logging.WARNING)
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


@pytest.fixture
def listener() -> Iterator[StandIn]:
    with StandIn() as host:
        yield host


def _attacks(listener: StandIn, folder: Path) -> list[str]:
    secret = folder.parent / "secret.json"
    return [f"http://127.0.0.1:{listener.port}/", f"https://127.0.0.1:{listener.port}/labels.json",
            f"http://localhost:{listener.port}", "file:///etc/passwd", f"file://{secret}", "/etc/passwd",
            str(secret), "../x", "../secret.json", "sub/../../secret.json", "escape.json", "sub/up/secret.json",
            f"{folder}/../secret.json", "gopher://127.0.0.1:70/", "\\\\server\\share\\x.json", str(folder)]


def _saved_tenant(tenant_factory: Any) -> Any:
    from flows.reconciliation import reconcile_licenses

    block, _ = tenant_factory(users=10, messages_per_mailbox=1)
    block.save(block.block_name, overwrite=True)
    reconcile_licenses(tenant=block.primary_domain)
    return block


def _scan_runs(block: Any) -> int:
    from sqlalchemy import func, select

    from mailwarden.store.models import ScanRun
    from tasks.common import store_for

    with store_for(block).session() as s:
        return int(s.scalar(select(func.count()).select_from(ScanRun).where(ScanRun.tenant_id == block.tenant_id))
                   or 0)


def _summary(flow_run_id: Any, block: Any) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return "\n".join(str(a.data) for a in found)


def test_urls_and_paths_out_of_the_folder_are_refused_before_any_io(folder: Path, listener: StandIn) -> None:
    """The core refuses each reference with a clear ValueError, and nothing was connected to."""
    for ref in _attacks(listener, folder):
        with pytest.raises(GroundTruthRefused) as err:
            load_ground_truth(ref, tenant_id="t")
        assert isinstance(err.value, ValueError) and "ground_truth must be" in str(err.value), ref
        assert MARKER not in str(err.value)
    assert listener.heard() == b"" and listener.connections == 0


def test_a_run_with_such_a_ground_truth_fails_validation_before_scanning(
        folder: Path, listener: StandIn, tenant_factory: Any) -> None:
    from prefect.exceptions import ParameterTypeError

    from flows.historic_scan import historic_scan

    block = _saved_tenant(tenant_factory)
    for ref in _attacks(listener, folder)[:8]:
        with pytest.raises(ParameterTypeError, match="ground_truth must be"):
            historic_scan(tenant=block.primary_domain, since=SINCE, ground_truth=ref)
    assert listener.heard() == b"" and listener.connections == 0
    assert _scan_runs(block) == 0


def test_a_deployment_run_naming_a_listening_port_fails_and_the_port_hears_nothing(
        folder: Path, listener: StandIn, tenant_factory: Any) -> None:
    """Through the Prefect API, as a runner executes it: failed on validation, no scan, no connection."""
    from prefect import get_client
    from prefect.deployments import run_deployment
    from prefect.flow_engine import run_flow

    from flows.historic_scan import historic_scan

    block = _saved_tenant(tenant_factory)
    cast(Any, historic_scan.to_deployment(name="security-ground-truth")).apply()
    run: Any = run_deployment("historic-scan/security-ground-truth", timeout=0, parameters={
        "tenant": block.primary_domain, "since": SINCE.isoformat(),
        "ground_truth": f"http://127.0.0.1:{listener.port}/"})
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(run.id)
    state: Any = run_flow(historic_scan, flow_run=flow_run, parameters=flow_run.parameters, return_type="state")
    assert state.is_failed() and "URLs are not accepted" in str(state.message)
    assert listener.heard() == b"" and listener.connections == 0
    assert _scan_runs(block) == 0


def test_sandbox_ground_truth_without_a_configured_sandbox_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILWARDEN_SANDBOX_URL", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(GroundTruthRefused, match="MAILWARDEN_SANDBOX_URL"):
            load_ground_truth("sandbox", tenant_id="t")
        monkeypatch.setenv("MAILWARDEN_SANDBOX_URL", "https://10.0.0.5:8443")
        get_settings.cache_clear()
        with pytest.raises(GroundTruthRefused, match="loopback"):
            load_ground_truth("sandbox", tenant_id="t")
    finally:
        get_settings.cache_clear()


def test_unreadable_files_in_the_folder_give_one_fixed_message_and_no_loader_text(
        folder: Path, tenant_factory: Any, server_log: list[str]) -> None:
    """Missing, not labels, not UTF-8, or a directory: the result and the summary say only that the
    file could not be read; the server log has the reason, never the content."""
    from flows.historic_scan import historic_scan

    (folder / "passwd.json").write_text(f"root:x:0:0:{MARKER}:/root:/bin/bash\n")
    (folder / "bad.csv").write_text(f"label,internet_message_id\nmaybe,{MARKER}\n")
    (folder / "binary.json").write_bytes(b"\xff\xfe" + MARKER.encode())
    (folder / "good.json").write_text(json.dumps([{"label": "phishing", "internet_message_id": "<a@b>"}]))
    block = _saved_tenant(tenant_factory)
    for ref in ("missing.json", "passwd.json", "bad.csv", "binary.json", "sub"):
        with pytest.raises(GroundTruthUnreadable) as err:
            load_ground_truth(ref, tenant_id="t")
        assert str(err.value) == UNREADABLE_FILE and err.value.__cause__ is None
    runs = {ref: historic_scan(tenant=block.primary_domain, since=SINCE, retry_delay_seconds=0,
                               ground_truth=ref, return_state=True) for ref in ("missing.json", "passwd.json")}
    for ref, run in runs.items():
        assert run.is_completed(), ref
        result = run.result()
        assert result["evaluation"] == {"error": UNREADABLE_FILE}
        summary = _summary(run.state_details.flow_run_id, block)
        assert f"Not evaluated: {UNREADABLE_FILE}" in summary
        for text in (json.dumps(result, default=str), summary):
            assert MARKER not in text and "Error" not in text.replace("error", "") and "No such file" not in text
    logged = "\n".join(server_log)
    assert "passwd.json" in logged and "No such file" in logged  # the reasons, on the server only
    assert MARKER not in logged
    good = historic_scan(tenant=block.primary_domain, since=SINCE, retry_delay_seconds=0, ground_truth="good.json")
    assert "error" not in good["evaluation"] and good["evaluation"]["labelled"] == 1  # a file inside is read
