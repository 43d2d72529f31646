"""Flows ``threat-response`` (search and purge) and ``restore`` (undo it).

Entrypoints: ``flows/threat_response.py:threat_response`` and ``flows/threat_response.py:restore``.

threat-response, step by step:

1. search every protected mailbox (or the chosen ones) for a link, attachment hash, sender,
   header, keyword or Internet message id, in every folder and subfolder (one task per mailbox);
2. publish a preview table: each copy with its mailbox, folder and read state;
3. pause for an :class:`ApprovalInput` (approve/reject, optionally narrowing the mailboxes) --
   resume from the UI or ``resume_flow_run`` -- unless ``approval="auto"`` and the tenant's policy
   (``M365 Tenant Policy``: ``threat_unattended_actions``, ``threat_max_unattended_copies``) lets
   this action on this many copies run unattended; ``auto`` for an action the policy gates is
   refused before the search, and more copies than the policy's cap are asked about anyway;
4. apply the action (quarantine, move to junk, soft or hard delete) to every copy: each one is
   audited with its new message id and happens once per scope, however often the flow runs.

Mailboxes on an on-premises Exchange (hybrid) are searched and acted on through EWS; the preview
and summary say which side each mailbox is on, and an unusable on-premises server is reported as
those mailboxes' search errors while the cloud side completes.

restore moves what a run quarantined, junked or soft-deleted back to the original folders.

The domain is :mod:`mailwarden.response`; the tasks are in tasks/remediation.py.
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput

from blocks.policy import load_policy
from mailwarden.policy.approval import Approval
from mailwarden.response import (
    ResponseAction,
    ThreatQuery,
    ThreatResponse,
    by_mailbox,
    check_unattended,
    counts,
    default_scope,
    why_ask,
)
from tasks.common import current_flow_run_id, load_tenant
from tasks.remediation import (
    act_on_copies,
    publish_preview,
    publish_restore,
    publish_summary,
    response_targets,
    restore_actions,
    search_mailboxes,
)
from tasks.runners import build_runner

__all__ = ["ApprovalInput", "ThreatQuery", "restore", "threat_response"]


class ApprovalInput(RunInput):
    """The operator's answer to a threat-response preview."""

    decision: Literal["approve", "reject"]
    mailboxes: list[str] | None = None
    """Act only on these mailboxes (ids) of the preview; None: all."""
    approver: str | None = None
    """Who says they decide: recorded as claimed, not as an authenticated identity."""


def _ask(run: ThreatResponse, timeout: int, poll_seconds: int) -> list[str] | None:
    """Pause for the operator's answer; sets the run's status and approval. The mailboxes to act on
    (None: every one), or None with a status other than ``done`` when nothing is to be done."""
    try:
        answer = pause_flow_run(wait_for_input=ApprovalInput, timeout=timeout, poll_interval=poll_seconds)
    except FlowPauseTimeout:
        run.status = "approval-timed-out"
        return None
    assert answer is not None
    who = Approval.from_resume(answer.decision == "approve", claimed_by=answer.approver)
    run.approval = who.audit_text()
    if answer.decision != "approve":
        get_run_logger().info("threat response %s", run.approval)
        run.status = "rejected"
    return answer.mailboxes


@flow(name="threat-response", validate_parameters=True)
def threat_response(
    tenant: str,
    query: ThreatQuery,
    action: ResponseAction = "quarantine",
    mailboxes: list[str] | None = None,
    approval: Literal["auto", "ask"] = "ask",
    approval_timeout: int | None = None,
    approval_poll_seconds: int = 10,
    reason: str = "threat response",
    scope: str | None = None,
    concurrency: int = 8,
) -> dict[str, Any]:
    """Find every copy of a threat in the tenant's mailboxes, preview, (await approval,) act.

    Args:
        tenant: The tenant's block name or primary domain.
        query: What to search for (link, attachment hash, sender, header, keyword, message id).
        action: quarantine (default), move_to_junk, soft_delete or hard_delete.
        mailboxes: Mailbox ids or addresses to search (None: every people and shared mailbox).
        approval: ``ask`` pauses for an :class:`ApprovalInput`; ``auto`` acts at once where the tenant's
            policy allows the action unattended on that many copies (else it asks).
        approval_timeout: Seconds to wait for the approval before giving up (nothing is done); default and
            maximum: the policy's.
        approval_poll_seconds: How often the paused run checks for the answer.
        reason: Recorded in the audit log.
        scope: Idempotency scope (default: derived from the query): the same scope never acts twice.
        concurrency: Mailboxes searched / acted on at once.
    """
    runner: Any = build_runner("threads", concurrency)  # the flow's Graph client is shared by the threads
    block = load_tenant(tenant)
    policy = load_policy(block.block_name, block.tenant_id)
    timeout = policy.narrow_timeout(approval_timeout)
    check_unattended(policy, action, approval)  # refused before the search
    targets = response_targets(block, mailboxes)
    with block.graph_client("basic") as client, runner:
        run = ThreatResponse(block.tenant_id, scope or default_scope(query), search_mailboxes(
            runner, client, block, targets, query), action=action, approval=Approval.unattended().audit_text(),
            flow_run_id=current_flow_run_id())
        publish_preview(block, run.search, targets.addresses)
        if not run.search.copies:
            run.status = "nothing-found"
            return run.to_dict()
        keep: list[str] | None = None
        if (why := why_ask(policy, action, len(run.search.copies), approval)) is not None:
            get_run_logger().info("waiting for approval of %s on %d copies: %s", action, len(run.search.copies), why)
            keep = _ask(run, timeout, approval_poll_seconds)
            if run.status != "done":
                return run.to_dict()
        run.results = act_on_copies(runner, client, block, run, by_mailbox(run.search.copies, keep), reason, targets)
    publish_summary(block, run)
    return run.to_dict()


@flow(name="restore", validate_parameters=True)
def restore(
    tenant: str,
    flow_run_id: str | None = None,
    action_ids: list[int] | None = None,
    reason: str = "restore",
) -> dict[str, Any]:
    """Undo the quarantine / junk / soft-delete actions of a flow run (or the given action ids).

    Each message goes back to its original folder; audited and idempotent (a second restore
    does nothing).
    """
    if not flow_run_id and not action_ids:
        raise ValueError("give the flow_run_id to undo, or action_ids")
    block = load_tenant(tenant)
    with block.graph_client("basic") as client:
        results = restore_actions(client, block, flow_run_id, action_ids, "restore", reason, current_flow_run_id())
    publish_restore(block, results, str(flow_run_id or action_ids))
    return {"tenant_id": block.tenant_id, "counts": counts(results), "results": [r.row() for r in results]}
