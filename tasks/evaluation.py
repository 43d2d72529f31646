"""Task of the ``historic-scan`` flow: judge the scan against ground truth, when there is one.

The labels come from the operator (an inline list, or a file in the server's ground-truth folder)
or, for a sandbox tenant, from the configured sandbox's control surface (``ground_truth="sandbox"``);
what a reference may name is decided in :mod:`mailwarden.detection.ground_truth`, and
:data:`GroundTruthRef` refuses anything else when the flow's parameters are validated, before the
scan starts. The scan's findings and completed policy actions are read back from the store.
Evaluation never fails a finished scan: a ground truth that cannot be loaded is reported as such
in the result (``error``, fixed text: the detail is in the server's log, never the file's content).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import AfterValidator

from blocks.m365 import M365Tenant
from mailwarden.detection.evaluation import CompletedAction, ScannedVerdict, evaluate
from mailwarden.detection.ground_truth import GroundTruthRefused, GroundTruthUnreadable, load_ground_truth, validate_ref
from mailwarden.store.repositories import list_actions, list_findings
from tasks.common import store_for

GroundTruthRef = Annotated[str | list[dict[str, Any]], AfterValidator(validate_ref)]
"""``"sandbox"``, a list of labels, or a file name in the ground-truth folder (checked on validation)."""
_COMPLETED = ("done", "already_done")


@task(name="evaluate-scan", retries=1, retry_delay_seconds=2, cache_policy=NO_CACHE)
def evaluate_scan(block: M365Tenant, scope: str, ground_truth: GroundTruthRef, rows: list[dict[str, Any]],
                  since: datetime | None) -> dict[str, Any]:
    """Recall and false-positive rates of scan ``scope`` against ``ground_truth`` (see module doc)."""
    if not ground_truth:
        raise ValueError("ground_truth is required ('sandbox', a list, or a file in the ground-truth folder)")
    log = get_run_logger()
    try:
        labels = load_ground_truth(ground_truth, tenant_id=block.tenant_id)
    except (GroundTruthRefused, GroundTruthUnreadable) as exc:  # fixed texts, no loader detail
        log.warning("ground truth not loaded, scan not evaluated: %s", exc)
        return {"error": str(exc)}
    except ValueError as exc:  # an inline list that is not labels: about the caller's own input
        log.warning("ground truth not loaded, scan not evaluated: %s", exc)
        return {"error": f"the inline ground truth is not valid: {exc}"[:300]}
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
