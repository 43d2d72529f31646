"""Tasks of the ``historic-scan`` flow: thin wrappers over :mod:`mailwarden.scan`.

One task per mailbox (never per message), retried on transient Graph failures only; a mailbox
that is gone or forbidden is reported by the core and does not fail the scan. On threads the
flow's block and Graph client are shared; on Dask a mailbox task gets the tenant's block name and
builds its own (``tasks.runners``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner

from blocks.m365 import M365Tenant
from mailwarden import scan
from mailwarden.detection import DetectionContext
from mailwarden.graph import GraphClient
from mailwarden.scan import MailboxScan, ScanPlan, ScanPolicy, ScanReport
from tasks.common import artifact_key, graph_client_for, retry_transient, store_for
from tasks.mailbox_access import Where, mailbox_access, side_of
from tasks.runners import fan_out, in_process, quoted, task_tenant


@task(name="plan-scan", retries=2, retry_delay_seconds=2, retry_condition_fn=retry_transient, cache_policy=NO_CACHE)
def plan_scan(block: M365Tenant, scan_id: str, since: datetime, mailboxes: list[str] | None,
              folders: list[str] | None) -> ScanPlan:
    """Resolve the mailboxes (address book), build the detection context, create the checkpoints."""
    with store_for(block).session() as s:
        plan = scan.plan_scan(s, tenant_id=block.tenant_id, domain=block.primary_domain, scan_id=scan_id,
                              since=since, mailboxes=mailboxes, folders=folders)
        s.commit()
    get_run_logger().info("scan %s: %d mailboxes since %s, %d already done", scan_id, len(plan.mailboxes),
                          since.isoformat(), len(plan.done_before))
    return plan


def begin_scan_run(block: M365Tenant, plan: ScanPlan, policy: ScanPolicy, flow_run_id: str | None) -> str:
    """Record this run of the scan (``running``); the run record's id."""
    with store_for(block).session() as s:
        run_id = plan.begin_run(s, policy, flow_run_id)
        s.commit()
    return run_id


@task(name="scan-mailbox", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def scan_mailbox_task(tenant: str, tenant_id: str, scan_id: str, since: datetime, context: DetectionContext | None,
                      mailbox_id: str, folders: list[str] | None, policy: ScanPolicy, flow_run_id: str | None,
                      page_size: int = 250, where: Where = None, client: GraphClient | None = None,
                      block: M365Tenant | None = None) -> MailboxScan:
    """Scan one mailbox of a scan (retried on transient Graph failures); ``where``: its side (EWS if on-premises).

    ``tenant`` is the block name (``tenant_id`` checks it): on Dask workers the task loads the block
    and builds its client here, so no secret travels; on threads the flow passes its own ``block``
    and ``client``. Pass ``context`` wrapped in ``quote`` on threads (Prefect then does not walk it).
    """
    block = task_tenant(tenant, tenant_id, block)
    client = client or graph_client_for(block)  # None on Dask workers: this process's own client
    result = scan.scan_mailbox(mailbox_access(block, client, mailbox_id, where), store_for(block),
                               tenant_id=block.tenant_id, scan_id=scan_id, since=since, folders=folders,
                               policy=policy, context=context, flow_run_id=flow_run_id, page_size=page_size)
    log = get_run_logger()
    if result.status == "failed":
        log.warning("mailbox %s not scanned: %s", mailbox_id, result.error)
    elif result.skipped:
        log.info("mailbox %s already scanned in this scan: skipped", mailbox_id)
    else:
        log.info("mailbox %s: %d messages, %s", mailbox_id, result.seen, result.categories)
    return result


def scan_mailboxes(runner: TaskRunner[Any], block: M365Tenant, plan: ScanPlan, policy: ScanPolicy,
                   client: GraphClient, *, flow_run_id: str | None, page_size: int,
                   retry_delay_seconds: float) -> list[MailboxScan]:
    """One :func:`scan_mailbox_task` per mailbox of the plan on ``runner``, a progress artifact moving
    as they finish; a mailbox whose task failed for good is checkpointed and reported ``failed``."""
    progress: Any = create_progress_artifact(0.0, key=artifact_key("historic-scan-progress", block),
                                             description=f"mailboxes scanned of {len(plan.mailboxes)}")
    # the block's name, never the block: on Dask nothing secret crosses (tasks/runners.py)
    common = {"tenant": block.block_name, "tenant_id": block.tenant_id, "scan_id": plan.scan_id,
              "since": plan.since, "context": quoted(plan.context, runner), "folders": plan.folders,
              "policy": policy, "flow_run_id": flow_run_id, "page_size": page_size,
              "client": in_process(client, runner), "block": in_process(block, runner)}
    task_ = scan_mailbox_task.with_options(retry_delay_seconds=retry_delay_seconds)
    results: list[MailboxScan] = []
    params = {mb: {**common, "mailbox_id": mb, "where": plan.where(mb)} for mb in plan.mailboxes}
    for i, (mb, got) in enumerate(fan_out(runner, task_, params), start=1):
        if isinstance(got, Exception):  # retries exhausted: reported, not fatal
            error = f"{type(got).__name__}: {got}"[:300]
            scan.record_failure(store_for(block), tenant_id=block.tenant_id, scan_id=plan.scan_id, mailbox_id=mb,
                                folders=plan.folders, error=error)
            got = MailboxScan.failure(mb, error, side_of(plan.where(mb)))
        results.append(got)
        update_progress_artifact(progress, 100.0 * i / len(params))
    if not params:
        update_progress_artifact(progress, 100.0)
    return results


def finish_scan_run(block: M365Tenant, report: ScanReport) -> None:
    """Close the run record with the report's status and totals."""
    with store_for(block).session() as s:
        report.record(s)
        s.commit()


@task(name="publish-scan-report", cache_policy=NO_CACHE)
def publish_scan_report(block: M365Tenant, report: ScanReport) -> None:
    """The per-mailbox table (address first) and the Markdown summary of the scan."""
    domain = block.primary_domain
    create_table_artifact(report.table_rows(), key=artifact_key("historic-scan-mailboxes", block),
                          description=f"Per-mailbox results of the historic scan of {domain} ({report.scan_id})")
    create_markdown_artifact(report.summary_markdown(), key=artifact_key("historic-scan-summary", block),
                             description=f"Historic scan of {domain}: counts and failures")
    get_run_logger().info("historic scan %s: %s", report.scan_id, report.totals())
