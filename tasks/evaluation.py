"""Task of the ``historic-scan`` flow: judge the scan against ground truth, when there is one.

The labels come from the operator (an inline list, or a file in the server's ground-truth folder)
or, for a sandbox tenant, from the configured sandbox's control surface (``ground_truth="sandbox"``);
what a reference may name is decided in :mod:`mailwarden.scan.ground_truth`, and
:data:`~mailwarden.scan.GroundTruthRef` refuses anything else when the flow's parameters are
validated, before the scan starts. Evaluation never fails a finished scan: a ground truth that
cannot be loaded is reported as such in the result (``error``, fixed text: the detail is in the
server's log, never the file's content).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from blocks.m365 import M365Tenant
from mailwarden.scan.ground_truth import (
    GroundTruthRef,
    GroundTruthRefused,
    GroundTruthUnreadable,
    evaluate_scan,
    load_ground_truth,
)
from tasks.common import store_for


@task(name="evaluate-scan", retries=1, retry_delay_seconds=2, cache_policy=NO_CACHE)
def evaluate_scan_task(block: M365Tenant, scan_id: str, ground_truth: GroundTruthRef, scanned: list[str],
                       since: datetime | None) -> dict[str, Any]:
    """Recall and false-positive rates of scan ``scan_id`` over the ``scanned`` mailboxes (see module doc)."""
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
        result = evaluate_scan(s, tenant_id=block.tenant_id, scan_id=scan_id, labels=labels, scanned=scanned,
                               since=since)
    overall = result["sources"]["all"]
    log.info("scan %s against ground truth: recall %s on %d phishing, false positives %s on %d legitimate",
             scan_id, overall["recall"], overall["phishing"], overall["false_positive_rate"], overall["legitimate"])
    return result
