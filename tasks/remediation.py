"""Tasks of ``threat-response`` and ``restore``: thin wrappers over :mod:`mailwarden.response`.

Search one mailbox, act on its copies, undo a run: per mailbox, retried on transient Graph
failures only. Acting goes through the audited, idempotent
:func:`mailwarden.mailbox.apply_message_action`; undoing through :func:`restore_action`. The
preview, summary and restore tables are published here.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner

from blocks.m365 import M365Tenant
from mailwarden import response
from mailwarden.directory import AddressBook
from mailwarden.graph import GraphClient
from mailwarden.mailbox import MessageQuery
from mailwarden.response import Copy, CopyResult, MailboxSearch, RestoreResult, ThreatResponse, ThreatSearch
from mailwarden.scan import Targets
from tasks.common import artifact_key, retry_transient, store_for
from tasks.mailbox_access import Where, mailbox_access, mailbox_router, mailbox_sides
from tasks.runners import gather


def response_targets(block: M365Tenant, mailboxes: list[str] | None) -> Targets:
    """The mailboxes to search: every protected one of the address book, or those named."""
    with store_for(block).session() as s:
        book = AddressBook.load(s, block.tenant_id)
    return Targets.of(book, mailboxes, block.primary_domain)


@task(name="search-mailbox", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def search_mailbox(client: GraphClient, mailbox_id: str, query: MessageQuery, block: M365Tenant,
                   where: Where = None) -> MailboxSearch:
    """The copies of a threat in one mailbox with folder and read state (a gone mailbox: an error).

    ``where`` (see :mod:`tasks.mailbox_access`) sends an on-premises mailbox through EWS.
    """
    return response.search_mailbox(mailbox_access(block, client, mailbox_id, where), query)


def search_mailboxes(runner: TaskRunner[Any], client: GraphClient, block: M365Tenant, targets: Targets,
                     query: MessageQuery) -> ThreatSearch:
    """One :func:`search_mailbox` per target mailbox, on ``runner``."""
    found = gather(runner, search_mailbox, {mb: {"client": client, "mailbox_id": mb, "query": query, "block": block,
                                                 "where": targets.where(mb)} for mb in targets.mailboxes})
    search = ThreatSearch(query.describe(), list(found.values()))
    get_run_logger().info("threat %s: %d copies in %d mailboxes (%d mailboxes unreadable)", search.query,
                          len(search.copies), len(search.mailboxes_with_copies()), len(search.errors))
    return search


@task(name="publish-threat-preview", cache_policy=NO_CACHE)
def publish_preview(block: M365Tenant, search: ThreatSearch, addresses: dict[str, str]) -> None:
    """The preview table: each copy with its mailbox (address first), side, folder and read state."""
    create_table_artifact(search.preview_rows(addresses), key=artifact_key("threat-response-preview", block),
                          description=search.preview_text())


@task(name="act-on-mailbox", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def act_on_mailbox(client: GraphClient, block: M365Tenant, mailbox_id: str, copies: list[Copy], action: str,
                   actor: str, reason: str, approval: str, flow_run_id: str | None, scope: str,
                   where: Where = None) -> list[CopyResult]:
    """Apply ``action`` to every copy found in one mailbox (audited, once per copy and scope)."""
    with store_for(block).session() as s:
        out = response.act_on_copies(mailbox_access(block, client, mailbox_id, where), s, tenant_id=block.tenant_id,
                                     copies=copies, action=action, actor=actor, reason=reason, approval=approval,
                                     flow_run_id=flow_run_id, scope=scope)
    get_run_logger().info("%s on %d copies in %s: %s", action, len(out), mailbox_id, sorted({o.result for o in out}))
    return out


def act_on_copies(runner: TaskRunner[Any], client: GraphClient, block: M365Tenant, run: ThreatResponse,
                  copies: dict[str, list[Copy]], reason: str, targets: Targets) -> list[CopyResult]:
    """One :func:`act_on_mailbox` per mailbox with copies, on ``runner``; every copy's result."""
    acted = gather(runner, act_on_mailbox, {mb: {
        "client": client, "block": block, "mailbox_id": mb, "copies": cs, "action": run.action,
        "actor": response.RESPONSE_ACTOR, "reason": reason, "approval": run.approval,
        "flow_run_id": run.flow_run_id, "scope": run.scope, "where": targets.where(mb)} for mb, cs in copies.items()})
    return [r for rs in acted.values() for r in rs]


@task(name="publish-threat-summary", cache_policy=NO_CACHE)
def publish_summary(block: M365Tenant, run: ThreatResponse) -> None:
    """The summary: the action, the results per side, how to undo."""
    create_markdown_artifact(run.summary_markdown(block.primary_domain),
                             key=artifact_key("threat-response-summary", block),
                             description=f"Threat response on {block.primary_domain}: {run.action} of "
                                         f"{len(run.results)} copies")


@task(name="restore-actions", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def restore_actions(client: GraphClient, block: M365Tenant, of_flow_run: str | None, action_ids: list[int] | None,
                    actor: str, reason: str, flow_run_id: str | None) -> list[RestoreResult]:
    """Undo the restorable message actions of a flow run (or the given action ids), once each."""
    router = mailbox_router(block, client, mailbox_sides(block))  # on-premises mailboxes are restored through EWS
    with store_for(block).session() as s:
        return response.restore_actions(s, router.for_mailbox, tenant_id=block.tenant_id, of_flow_run=of_flow_run,
                                        action_ids=action_ids, actor=actor, reason=reason, flow_run_id=flow_run_id)


@task(name="publish-restore-results", cache_policy=NO_CACHE)
def publish_restore(block: M365Tenant, results: list[RestoreResult], what: str) -> None:
    """One row per message put back, the mailbox's address first (the stored address book)."""
    known: dict[str, str] = {}
    if results:
        try:
            with store_for(block).session() as s:
                known = AddressBook.load(s, block.tenant_id).addresses_of({r.mailbox for r in results})
        except LookupError:
            known = {}
    rows = [{"address": known.get(r.mailbox, r.mailbox), **r.row()} for r in results]
    create_table_artifact(rows or [{"result": "(nothing to restore)"}], key=artifact_key("restore-results", block),
                          description=f"Restore of {what}: one row per message")
