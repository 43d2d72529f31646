"""Flow ``historic-scan``: look back through every protected mailbox for phishing and act on it.

Entrypoint: ``flows/historic_scan.py:historic_scan``.

1. load the tenant; resolve the mailboxes from the address book (people and shared mailboxes;
   run ``reconcile-licenses`` first) or take the given ones;
2. derive the scan's id from tenant, window, folders and policy: checkpoints live under it, so a
   re-run with the same parameters resumes (done mailboxes are not read again) and the audit
   log's idempotency keys keep any message from being acted on twice;
3. one task per mailbox (``concurrency`` at once) on a thread pool, or on a Dask cluster with
   ``task_runner="dask"`` (the server's scheduler over mutual TLS, else a local one; the tasks get
   the tenant's block name, not its block: docs/scale-out.md): page, classify, store findings, apply the policy;
   transient Graph failures retry; a gone/forbidden mailbox is reported; on-premises mailboxes
   (Exchange hybrid) are read through EWS, and an unusable on-premises server fails them with the reason;
4. a progress artifact moves as mailboxes finish; a table and a Markdown summary end the run
   (given ``ground_truth``, the summary adds recall and false-positive rates: tasks/evaluation.py).

The scan's domain is :mod:`mailwarden.scan`; the tasks are in tasks/scan.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow

from blocks.policy import load_policy
from mailwarden.scan import GroundTruthRef, ScanPolicy, ScanReport, scan_id_for, scan_window
from tasks.common import current_flow_run_id, load_tenant
from tasks.evaluation import evaluate_scan_task
from tasks.runners import RunnerKind, build_runner
from tasks.scan import begin_scan_run, finish_scan_run, plan_scan, publish_scan_report, scan_mailboxes


@flow(name="historic-scan", validate_parameters=True)
def historic_scan(
    tenant: str,
    days: int = 30,
    since: datetime | None = None,
    folders: list[str] | None = None,
    mailboxes: list[str] | None = None,
    policy: ScanPolicy | None = None,
    concurrency: int = 8,
    retry_delay_seconds: float = 10.0,
    page_size: int = 250,
    task_runner: RunnerKind = "threads",
    dask_workers: int = 2,
    ground_truth: GroundTruthRef | None = None,
) -> dict[str, Any]:
    """Scan the tenant's mailboxes over a time window and apply ``policy`` to what detection finds.

    Args:
        tenant: The tenant's block name or primary domain.
        days: Look back this many days (from midnight UTC today) unless ``since`` is given.
        since: Scan messages received at or after this time.
        folders: Folder ids or well-known names (None: every visible folder).
        mailboxes: Mailbox ids or addresses (None: every people and shared mailbox of the address book).
        policy: Action per category, e.g. ``{"actions": {"malicious": "quarantine"}}`` (None: report only);
            none stronger than the tenant policy's ``scan_max_action`` (default quarantine).
        concurrency: Mailboxes scanned at once.
        retry_delay_seconds: Delay between retries of a mailbox after a transient failure.
        page_size: Messages per Graph page.
        task_runner: ``threads`` (in this process) or ``dask``: the server's Dask scheduler
            (``MAILWARDEN_DASK_ADDRESS``, mutual TLS), else a local cluster (docs/scale-out.md).
        dask_workers: With ``dask`` and no server scheduler: worker processes of the local cluster.
        ground_truth: Optional labels to judge the scan by (recall, false positives in the summary):
            ``"sandbox"`` (the server's configured sandbox), a list, or the name of a file (JSON, JSON
            lines, CSV) in the server's ``MAILWARDEN_GROUND_TRUTH_DIR``.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    policy = policy or ScanPolicy()
    runner: Any = build_runner(task_runner, concurrency, dask_workers=dask_workers)  # refused before any work
    block = load_tenant(tenant)
    load_policy(block.block_name, block.tenant_id).check_scan_actions(policy.actions)  # before any work
    start = scan_window(days, since)
    plan = plan_scan(block, scan_id_for(block.tenant_id, start, folders, policy), start, mailboxes, folders)
    run_id = current_flow_run_id()
    scan_run_id = begin_scan_run(block, plan, policy, run_id)
    with block.graph_client("basic") as client, runner:  # one task per mailbox, `concurrency` at once
        results = scan_mailboxes(runner, block, plan, policy, client, flow_run_id=run_id, page_size=page_size,
                                 retry_delay_seconds=retry_delay_seconds)
    report = ScanReport(block.primary_domain, block.tenant_id, plan.scan_id, start, results, plan.addresses,
                        scan_run_id=scan_run_id)
    if ground_truth:
        report.evaluation = evaluate_scan_task(block, plan.scan_id, ground_truth, report.scanned(), start)
    finish_scan_run(block, report)
    publish_scan_report(block, report)
    return report.to_dict()
