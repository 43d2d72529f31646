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
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel

from blocks.policy import load_policy
from mailwarden.directory import AddressBook
from mailwarden.mailbox import MessageQuery
from mailwarden.policy import PolicyViolation
from mailwarden.policy.approval import Approval
from tasks.common import artifact_key, current_flow_run_id, load_tenant, store_for
from tasks.mailbox_access import mailbox_sides, per_side_lines
from tasks.remediation import act_on_mailbox, restore_actions, search_mailbox

ResponseAction = Literal["quarantine", "move_to_junk", "soft_delete", "hard_delete"]


class ThreatQuery(BaseModel):
    """What identifies the threat; every given field must match."""

    internet_message_id: str | None = None
    sender: str | None = None
    subject: str | None = None
    keyword: str | None = None
    link: str | None = None
    attachment_sha256: str | None = None
    header_name: str | None = None
    header_value: str | None = None

    def to_query(self) -> MessageQuery:
        if bool(self.header_name) != bool(self.header_value):
            raise ValueError("header_name and header_value go together")
        header = (self.header_name, self.header_value) if self.header_name and self.header_value else None
        q = MessageQuery(self.internet_message_id, self.sender, self.subject, self.keyword, self.link,
                         self.attachment_sha256, header)
        if q.is_empty():
            raise ValueError("give at least one search criterion")
        return q


class ApprovalInput(RunInput):
    """The operator's answer to a threat-response preview."""

    decision: Literal["approve", "reject"]
    mailboxes: list[str] | None = None
    """Act only on these mailboxes (ids) of the preview; None: all."""
    approver: str | None = None
    """Who says they decide: recorded as claimed, not as an authenticated identity."""


def _mailboxes(block: Any, chosen: list[str] | None) -> tuple[list[str], dict[str, str]]:
    """The mailbox ids to search, and their addresses (address book) for the reports."""
    with store_for(block).session() as s:
        book = AddressBook.load(s, block.tenant_id)
    targets = book.mailboxes_named(chosen, block.primary_domain) if chosen else book.protected_mailboxes()
    return targets, book.addresses_of(targets)


def _with_addresses(block: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with the mailbox's address first (the stored address book, no Graph call)."""
    if not rows:
        return rows
    try:
        with store_for(block).session() as s:
            known = AddressBook.load(s, block.tenant_id).addresses_of({str(r["mailbox"]) for r in rows})
    except LookupError:
        known = {}
    return [{"address": known.get(str(r["mailbox"]), r["mailbox"]), **r} for r in rows]


def _run_per_mailbox(runner: ThreadPoolTaskRunner, task: Any, items: list[dict[str, Any]]) -> list[Any]:
    futures = [runner.submit(task, params) for params in items]
    return [f.result() for f in futures]


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
    q = query.to_query()
    log = get_run_logger()
    block = load_tenant(tenant)
    policy = load_policy(block.block_name, block.tenant_id)
    timeout = policy.narrow_timeout(approval_timeout)
    if approval == "auto" and action not in policy.threat_unattended_actions:
        raise PolicyViolation(f"the tenant's policy requires approval for {action}: approval='auto' cannot skip it "
                              "(change threat_unattended_actions in the tenant's policy block)")
    run_id = current_flow_run_id()
    scope = scope or "threat:" + hashlib.sha256(q.describe().encode()).hexdigest()[:24]
    targets, addresses = _mailboxes(block, mailboxes)
    sides = mailbox_sides(block)  # on-premises mailboxes go through EWS
    runner: Any = ThreadPoolTaskRunner(max_workers=concurrency)
    with block.graph_client("basic") as client, runner:
        found = _run_per_mailbox(runner, search_mailbox,
                                 [{"client": client, "mailbox_id": mb, "query": q, "block": block,
                                   "where": sides.get(mb)} for mb in targets])
        hits = [h for f in found for h in f["hits"]]
        errors = {f["mailbox"]: f["error"] for f in found if f["error"]}
        create_table_artifact(
            [{"address": addresses.get(h["mailbox"], h["mailbox"]),
              **{k: h[k] for k in ("mailbox", "side", "folder", "isRead", "subject", "receivedDateTime",
                                  "internetMessageId")}}
             for h in hits] or [{"address": "(no copies found)"}],
            key=artifact_key("threat-response-preview", block),
            description=f"{len(hits)} copies in {len({h['mailbox'] for h in hits})} mailboxes for: {q.describe()}")
        log.info("threat %s: %d copies in %d mailboxes (%d mailboxes unreadable)", q.describe(), len(hits),
                 len({h["mailbox"] for h in hits}), len(errors))
        base = {"tenant_id": block.tenant_id, "scope": scope, "query": q.describe(), "found": len(hits),
                "mailboxes_with_copies": sorted({h["mailbox"] for h in hits}), "search_errors": errors}
        if not hits:
            return {**base, "status": "nothing-found", "results": []}
        approved_by = Approval.unattended().audit_text()
        why_ask = policy.unattended_threat_action(action, len(hits)) if approval == "auto" else "approval asked"
        if why_ask is not None:
            from prefect.exceptions import FlowPauseTimeout

            log.info("waiting for approval of %s on %d copies: %s", action, len(hits), why_ask)
            try:
                answer = pause_flow_run(wait_for_input=ApprovalInput, timeout=timeout,
                                        poll_interval=approval_poll_seconds)
            except FlowPauseTimeout:
                return {**base, "status": "approval-timed-out", "results": []}
            assert answer is not None
            who = Approval.from_resume(answer.decision == "approve", claimed_by=answer.approver)
            if answer.decision != "approve":
                log.info("threat response %s", who.audit_text())
                return {**base, "status": "rejected", "results": [], "decision": who.audit_text()}
            approved_by = who.audit_text()
            if answer.mailboxes is not None:
                keep = set(answer.mailboxes)
                hits = [h for h in hits if h["mailbox"] in keep]
        by_mailbox: dict[str, list[dict[str, Any]]] = {}
        for h in hits:
            by_mailbox.setdefault(h["mailbox"], []).append(h)
        acted = _run_per_mailbox(runner, act_on_mailbox, [
            {"client": client, "block": block, "mailbox_id": mb, "hits": hs, "action": action,
             "actor": "threat-response", "reason": reason, "approval": approved_by, "flow_run_id": run_id,
             "scope": scope, "where": sides.get(mb)} for mb, hs in sorted(by_mailbox.items())])
    results = [r for rs in acted for r in rs]
    counts: dict[str, int] = {}
    for r in results:
        counts[r["result"]] = counts.get(r["result"], 0) + 1
    create_markdown_artifact("\n".join([
        f"# Threat response on {block.primary_domain}", "", f"Query: `{q.describe()}`", "",
        f"Action **{action}** ({approved_by}) on {len(results)} copies in {len(by_mailbox)} mailboxes: "
        + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())), "",
        *per_side_lines(results, found),
        f"Undo with flow `restore` and `flow_run_id={run_id}`." if action != "hard_delete" else
        "Hard deletes cannot be undone."]), key=artifact_key("threat-response-summary", block),
        description=f"Threat response on {block.primary_domain}: {action} of {len(results)} copies")
    return {**base, "status": "done", "action": action, "counts": counts, "results": results,
            "flow_run_id": run_id}




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
        results = restore_actions(client, block, flow_run_id, action_ids, "restore", reason,
                                  current_flow_run_id())
    counts: dict[str, int] = {}
    for r in results:
        counts[r["result"]] = counts.get(r["result"], 0) + 1
    create_table_artifact(_with_addresses(block, results) or [{"result": "(nothing to restore)"}],
                          key=artifact_key("restore-results", block),
                          description=f"Restore of {flow_run_id or action_ids}: one row per message")
    return {"tenant_id": block.tenant_id, "counts": counts, "results": results}
