"""Historic scan of a sandbox tenant loaded with real mail (../shared/corpus dev sets).

The scan, given the sandbox as its ground truth, finds and quarantines the real phishing at the
detector bench's rates (bench/detection_quality.py), and its summary artifact, read back through
the Prefect API, shows recall and false positives per source (generated and real mail).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests._shared import require_shared

pytestmark = pytest.mark.usefixtures("prefect_harness")
SINCE = datetime(2000, 1, 1, tzinfo=UTC)  # the legitimate set is from 2002
SETS = {"phishing": "phishing_pot-dev.tar.gz", "legitimate": "spamassassin-ham-dev.tar.gz"}
REAL_MAIL_SEED = 90_001  # a fixed tenant: the same draw of real mail whatever ran before
QUARANTINE_ALL = {"actions": {"malicious": "quarantine", "suspicious": "quarantine", "spam": "quarantine"}}


@pytest.fixture(scope="module")
def real_mail() -> list[tuple[str, str]]:
    """(archive, label) of the corpus dev sets; missing corpus fails under CI, else skips."""
    paths = require_shared(*(f"corpus/{name}" for name in SETS.values()), what="real-mail corpus")
    return [(str(path), label) for path, label in zip(paths, SETS, strict=True)]


def _summary_artifact(flow_run_id: Any, block: Any) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    from tasks.common import artifact_key

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            key=ArtifactFilterKey(any_=[artifact_key("historic-scan-summary", block)])))
    assert len(found) == 1
    return str(found[0].data)


def _expected(state: Any, scanned: set[str]) -> dict[str, Counter[str]]:
    """Labelled messages per (source, label), and how many sit in quarantine now: from the sandbox.

    A message is one Internet message id per mailbox, as the product counts (findings and the
    audit log key on it); it is quarantined when a copy of it is in the quarantine folder.
    """
    from mailwarden.mailbox import QUARANTINE_FOLDER

    truth = state.truth
    kinds: dict[tuple[str, str], str] = {}
    quarantined: set[tuple[str, str]] = set()
    for mb_id in scanned:
        mb = state.mailboxes[mb_id]
        for item in mb.items.values():
            original = item.base.get("id")
            if original in truth.malicious_message_ids:
                label = "phishing"
            elif original in truth.benign_message_ids:
                label = "legitimate"
            else:
                continue
            key = (mb_id, item.base["internetMessageId"])
            kinds[key] = f"{'real' if original in truth.labels else 'generated'}:{label}"
            if mb.folders[item.folder]["displayName"] == QUARANTINE_FOLDER:
                quarantined.add(key)
    return {"labelled": Counter(kinds.values()), "quarantined": Counter(kinds[k] for k in quarantined)}


def test_scan_of_real_mail_quarantines_the_real_phishing_at_bench_rates_and_reports_them(
        tenant_factory: Any, real_mail: list[tuple[str, str]]) -> None:
    from flows.historic_scan import historic_scan
    from flows.reconciliation import reconcile_licenses

    block, state = tenant_factory(seed=REAL_MAIL_SEED, users=40, messages_per_mailbox=30, phishing_rate=0.1,
                                  real_mail=real_mail, real_mail_share=0.8)
    block.save(block.block_name, overwrite=True)
    reconcile_licenses(tenant=block.primary_domain)
    run = historic_scan(tenant=block.primary_domain, since=SINCE, policy=QUARANTINE_ALL, ground_truth="sandbox",
                        concurrency=4, retry_delay_seconds=0, return_state=True)
    out = run.result()
    assert not out["failed"]
    ev = out["evaluation"]
    real, generated = ev["sources"]["real"], ev["sources"]["generated"]
    print({name: {k: r[k] for k in ("phishing", "recall", "acted", "legitimate", "false_positive_rate")}
           for name, r in ev["sources"].items()})

    # the counts agree with the sandbox's own state, computed here independently of the product
    expected = _expected(state, {r["mailbox"] for r in out["rows"] if r["status"] == "done"})
    assert real["phishing"] == expected["labelled"]["real:phishing"] >= 150
    assert real["legitimate"] == expected["labelled"]["real:legitimate"] >= 150
    assert generated["phishing"] == expected["labelled"]["generated:phishing"] > 0
    assert generated["legitimate"] == expected["labelled"]["generated:legitimate"] > 0
    assert real["phishing_acted"].get("quarantine", 0) == expected["quarantined"]["real:phishing"]

    # the bench's rates on the dev sets: >= 85% of the phishing not clean, <= 2% legitimate flagged
    assert real["recall"] >= 0.85
    assert real["acted"] >= 0.85  # and quarantined, at the same rate
    assert real["false_positive_rate"] <= 0.02
    assert generated["recall"] >= 0.90 and generated["false_positive_rate"] <= 0.02

    summary = _summary_artifact(run.state_details.flow_run_id, block)
    assert "## Detection against ground truth" in summary
    assert ev["judged"] == sum(expected["labelled"].values())
    assert f"{ev['judged']} labelled messages judged ({ev['out_of_scope']} labels outside" in summary
    for name in ("real", "generated", "**all**"):
        r = ev["sources"][name.strip("*")]
        assert f"| {name} | {r['phishing']} | {100 * r['recall']:.1f}% ({r['phishing_not_clean']}) |" in summary
        assert f"| {r['legitimate']} | {100 * r['false_positive_rate']:.1f}% ({r['legitimate_threat']}) |" in summary


def test_scan_without_ground_truth_has_no_evaluation_and_a_bad_one_is_reported_not_fatal(
        tenant_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.historic_scan import historic_scan
    from flows.reconciliation import reconcile_licenses
    from mailwarden.settings import get_settings

    block, _ = tenant_factory(users=10, messages_per_mailbox=4)
    block.save(block.block_name, overwrite=True)
    reconcile_licenses(tenant=block.primary_domain)
    plain = historic_scan(tenant=block.primary_domain, since=SINCE, retry_delay_seconds=0)
    assert "evaluation" not in plain
    monkeypatch.setenv("MAILWARDEN_GROUND_TRUTH_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        run = historic_scan(tenant=block.primary_domain, since=SINCE, retry_delay_seconds=0,
                            ground_truth="no/such/truth.json", return_state=True)
    finally:
        monkeypatch.delenv("MAILWARDEN_GROUND_TRUTH_DIR")
        get_settings.cache_clear()
    assert run.is_completed()
    message = "could not read the ground truth file (see the server log)"
    assert run.result()["evaluation"]["error"] == message
    assert f"Not evaluated: {message}" in _summary_artifact(run.state_details.flow_run_id, block)
