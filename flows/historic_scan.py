"""Flow ``historic-scan``: look back through every protected mailbox for phishing and act on it.

Entrypoint: ``flows/historic_scan.py:historic_scan``.

1. load the tenant; resolve the mailboxes from the address book (people and shared mailboxes;
   run ``reconcile-licenses`` first) or take the given ones;
2. derive the scan key from tenant, window, folders and policy: checkpoints live under it, so a
   re-run with the same parameters resumes (done mailboxes are not read again) and the audit
   log's idempotency keys keep any message from being acted on twice;
3. one task per mailbox (``concurrency`` at once) on a thread pool, or on a Dask cluster with
   ``task_runner="dask"`` (the server's scheduler over mutual TLS, else a local one; the tasks get
   the tenant's block name, not its block: docs/scale-out.md): page, classify, store findings, apply the policy;
   transient Graph failures retry; a gone/forbidden mailbox is reported; on-premises mailboxes
   (Exchange hybrid) are read through EWS, and an unusable on-premises server fails them with the reason;
4. a progress artifact moves as mailboxes finish; a table and a Markdown summary end the run
   (given ``ground_truth``, the summary adds recall and false-positive rates: tasks/evaluation.py).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.futures import as_completed

from blocks.policy import load_policy
from mailwarden.detection.evaluation import markdown as evaluation_markdown
from mailwarden.reports import md, md_code
from mailwarden.store.repositories import create_scan_run, finish_scan_run
from tasks.common import artifact_key, current_flow_run_id, load_tenant, store_for
from tasks.evaluation import GroundTruthRef, evaluate_scan
from tasks.mailbox_access import mailbox_sides, side_of
from tasks.runners import RunnerKind, build_runner, in_process, quoted
from tasks.scan import ScanPolicy, plan_scan, record_failure, scan_key, scan_mailbox, scan_window


def _summary_markdown(domain: str, scope: str, rows: list[dict[str, Any]], cats: Counter[str],
                      acts: Counter[str], evaluation: dict[str, Any] | None = None,
                      addresses: dict[str, str] | None = None) -> str:
    addresses = addresses or {}
    failed = [r for r in rows if r["status"] == "failed"]
    lines = [f"# Historic scan of {domain}", "", f"Scan key `{scope}`: {len(rows)} mailboxes, "
             f"{sum(r['seen'] for r in rows)} messages, {sum(1 for r in rows if r['skipped'])} resumed "
             f"(done before), {len(failed)} failed.", "", "| category | messages |", "|---|---|"]
    lines += [f"| {c} | {n} |" for c, n in sorted(cats.items())]
    lines += ["", "| side | mailboxes | messages | failed |", "|---|---|---|---|"]
    for side in sorted({str(r.get("side", "cloud")) for r in rows}):
        mine = [r for r in rows if r.get("side", "cloud") == side]
        lines.append(f"| {side} | {len(mine)} | {sum(r['seen'] for r in mine)} | "
                     f"{sum(1 for r in mine if r['status'] == 'failed')} |")
    lines += ["", "| action:result | messages |", "|---|---|"]
    lines += [f"| {a} | {n} |" for a, n in sorted(acts.items())] or ["| (none) | 0 |"]
    if failed:
        lines += ["", "## Failed mailboxes", ""] + [
            f"- {md(addresses.get(r['mailbox'], r['mailbox']))} ({md_code(r['mailbox'])}): {md(r['error'])}"
            for r in failed]
    if evaluation is not None:
        lines += ["", "## Detection against ground truth", ""]
        lines += ([f"Not evaluated: {md(evaluation['error'])}"] if "error" in evaluation else [
            f"{evaluation['judged']} labelled messages judged ({evaluation['out_of_scope']} labels outside "
            "the scanned mailboxes or window).", "",
            *evaluation_markdown(evaluation)])
    return "\n".join(lines)


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
    log = get_run_logger()
    block = load_tenant(tenant)
    load_policy(block.block_name, block.tenant_id).check_scan_actions(policy.actions)  # before any work
    start = scan_window(days, since)
    scope = scan_key(block.tenant_id, start, folders, policy)
    run_id = current_flow_run_id()
    plan = plan_scan(block, scope, start, mailboxes, folders)
    sides = mailbox_sides(block)  # on-premises mailboxes are read through EWS
    store = store_for(block)
    with store.session() as s:
        scan_id = create_scan_run(s, block.tenant_id, "historic", flow_run_id=run_id, parameters={
            "scope": scope, "since": start.isoformat(), "folders": folders, "mailboxes": len(plan.mailboxes),
            "policy": policy.model_dump(mode="json")}).id
        s.commit()
    progress: Any = create_progress_artifact(0.0, key=artifact_key("historic-scan-progress", block),
                                        description=f"mailboxes scanned of {len(plan.mailboxes)}")
    task = scan_mailbox.with_options(retry_delay_seconds=retry_delay_seconds)
    rows: list[dict[str, Any]] = []
    with block.graph_client("basic") as client, runner:  # one task per mailbox, `concurrency` at once
        # the block's name, never the block: on Dask nothing secret crosses (tasks/runners.py)
        common = {"tenant": block.block_name, "tenant_id": block.tenant_id, "scope": plan.scope,
                  "since": plan.since, "context": quoted(plan.context, runner), "folders": folders,
                  "policy": policy, "flow_run_id": run_id, "page_size": page_size,
                  "client": in_process(client, runner), "block": in_process(block, runner)}
        futures: dict[Any, str] = {runner.submit(task, {**common, "mailbox_id": mb, "where": sides.get(mb)}): mb
                                   for mb in plan.mailboxes}
        for i, fut in enumerate(as_completed(list(futures)), start=1):
            mb = futures[fut]
            try:
                rows.append(fut.result())
            except Exception as exc:  # noqa: BLE001 - a mailbox failing for good is reported, not fatal
                error = f"{type(exc).__name__}: {exc}"[:300]
                record_failure(block, scope, mb, folders, error)
                rows.append({"mailbox": mb, "status": "failed", "seen": 0, "skipped": False,
                             "categories": {}, "actions": {}, "error": error, "side": side_of(sides.get(mb))})
            update_progress_artifact(progress, 100.0 * i / max(1, len(futures)))
    if not plan.mailboxes:
        update_progress_artifact(progress, 100.0)
    rows.sort(key=lambda r: (plan.addresses.get(r["mailbox"], r["mailbox"]), r["mailbox"]))
    cats: Counter[str] = Counter()
    acts: Counter[str] = Counter()
    for r in rows:
        cats.update(r["categories"])
        acts.update(r["actions"])
    failed = {r["mailbox"]: r["error"] for r in rows if r["status"] == "failed"}
    totals = {"mailboxes": len(rows), "messages": sum(r["seen"] for r in rows), "categories": dict(cats),
              "actions": dict(acts), "failed": failed,
              "resumed": [r["mailbox"] for r in rows if r["skipped"]]}
    if ground_truth:
        totals["evaluation"] = evaluate_scan(block, scope, ground_truth, rows, start)
    with store.session() as s:
        finish_scan_run(s, scan_id, "done" if not failed else "partial", totals=totals)
        s.commit()
    create_table_artifact(
        [{"address": plan.addresses.get(r["mailbox"], r["mailbox"]), "mailbox": r["mailbox"],
          "side": r.get("side", "cloud"),
          "status": "resumed" if r["skipped"] else r["status"], "messages": r["seen"],
          **{c: r["categories"].get(c, 0) for c in ("malicious", "suspicious", "spam")},
          "actions": ", ".join(f"{k}={v}" for k, v in sorted(r["actions"].items())), "error": r["error"] or ""}
         for r in rows], key=artifact_key("historic-scan-mailboxes", block),
        description=f"Per-mailbox results of the historic scan of {block.primary_domain} ({scope})")
    create_markdown_artifact(_summary_markdown(block.primary_domain, scope, rows, cats, acts,
                                               totals.get("evaluation"), plan.addresses),
                             key=artifact_key("historic-scan-summary", block),
                             description=f"Historic scan of {block.primary_domain}: counts and failures")
    log.info("historic scan %s: %s", scope, totals)
    return {"tenant_id": block.tenant_id, "scope": scope, "scan_id": scan_id, "since": start.isoformat(),
            **totals, "rows": rows}
