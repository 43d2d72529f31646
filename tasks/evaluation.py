"""Task of the ``historic-scan`` flow: judge the scan against ground truth, when there is one.

The labels come from the operator (a list, a file or a URL) or, for a sandbox tenant, from the
sandbox's control surface (``ground_truth="sandbox"``); the scan's findings and completed policy
actions are read back from the store. Evaluation never fails a finished scan: a ground truth that
cannot be loaded is reported as such in the result (``error``) and in the summary.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from blocks.m365 import M365Tenant
from mailwarden.detection.evaluation import CompletedAction, ScannedVerdict, evaluate
from mailwarden.detection.ground_truth import load_ground_truth
from mailwarden.store.repositories import list_actions, list_findings
from tasks.common import store_for

GroundTruthRef = str | list[dict[str, Any]]
_COMPLETED = ("done", "already_done")


@task(name="evaluate-scan", retries=1, retry_delay_seconds=2, cache_policy=NO_CACHE)
def evaluate_scan(block: M365Tenant, scope: str, ground_truth: GroundTruthRef, rows: list[dict[str, Any]],
                  since: datetime | None) -> dict[str, Any]:
    """Recall and false-positive rates of scan ``scope`` against ``ground_truth`` (see module doc)."""
    if not ground_truth:
        raise ValueError("ground_truth is required ('sandbox', a list, a file or a URL)")
    log = get_run_logger()
    try:
        labels = load_ground_truth(ground_truth, tenant_id=block.tenant_id, graph_url=block.graph_url,
                                   ca_file=block.ca_file)
    except (ValueError, OSError, httpx.HTTPError) as exc:
        log.warning("ground truth not loaded, scan not evaluated: %s", exc)
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    with store_for(block).session() as s:
        verdicts = [ScannedVerdict(f.mailbox_id, f.category, f.internet_message_id, f.message_id)
                    for f in list_findings(s, scan_id=scope, tenant_id=block.tenant_id)]
        actions = [CompletedAction(a.mailbox_id or "", a.target, a.action)
                   for a in list_actions(s, block.tenant_id, state="done", target_kind="message")
                   if a.result in _COMPLETED and (a.details or {}).get("scope") == scope]
    scanned = [r["mailbox"] for r in rows if r["status"] == "done"]
    result = evaluate(labels, verdicts, actions, mailboxes=scanned, since=since).to_json()
    overall = result["sources"]["all"]
    log.info("scan %s against ground truth: recall %s on %d phishing, false positives %s on %d legitimate",
             scope, overall["recall"], overall["phishing"], overall["false_positive_rate"], overall["legitimate"])
    return result
