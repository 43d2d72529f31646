"""Tasks of ``threat-response`` and ``restore``: search one mailbox, act on its copies, undo.

Per mailbox, retried on transient Graph failures. Acting goes through the audited, idempotent
:func:`mailwarden.mailbox.apply_message_action`; undoing through :func:`restore_action`.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from blocks.m365 import M365Tenant
from mailwarden.graph import Forbidden, GraphClient, NotFound
from mailwarden.mailbox import (
    RESTORABLE,
    MessageQuery,
    apply_message_action,
    find_messages,
    folder_names,
    restore_action,
)
from mailwarden.store.repositories import list_actions
from tasks.common import store_for
from tasks.scan import retry_transient


@task(name="search-mailbox", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def search_mailbox(client: GraphClient, mailbox_id: str, query: MessageQuery) -> dict[str, Any]:
    """The copies of a threat in one mailbox with folder and read state (a gone mailbox: an error)."""
    try:
        found = find_messages(client, mailbox_id, query)
        names = folder_names(client, mailbox_id) if found else {}
    except (NotFound, Forbidden) as exc:
        return {"mailbox": mailbox_id, "hits": [], "error": f"{type(exc).__name__}: {exc}"[:300]}
    hits = [{"mailbox": mailbox_id, "id": m["id"], "internetMessageId": m.get("internetMessageId"),
             "parentFolderId": m.get("parentFolderId"),
             "folder": names.get(str(m.get("parentFolderId")), str(m.get("parentFolderId"))),
             "isRead": bool(m.get("isRead")), "subject": m.get("subject"),
             "receivedDateTime": m.get("receivedDateTime")} for m in found]
    return {"mailbox": mailbox_id, "hits": hits, "error": None}


@task(name="act-on-mailbox", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def act_on_mailbox(client: GraphClient, block: M365Tenant, mailbox_id: str, hits: list[dict[str, Any]],
                   action: str, actor: str, reason: str, approval: str, flow_run_id: str | None,
                   scope: str) -> list[dict[str, Any]]:
    """Apply ``action`` to every copy found in one mailbox (audited, once per copy and scope)."""
    out = []
    with store_for(block).session() as s:
        for hit in hits:
            outcome = apply_message_action(
                client, s, tenant_id=block.tenant_id, mailbox_id=mailbox_id, message=hit,
                action=action,  # type: ignore[arg-type]
                actor=actor, reason=reason, approval=approval, flow_run_id=flow_run_id, scope=scope)
            out.append({"mailbox": mailbox_id, "message_id": hit["id"], "result": outcome.result,
                        "new_message_id": outcome.new_message_id, "detail": outcome.detail})
    get_run_logger().info("%s on %d copies in %s: %s", action, len(out), mailbox_id,
                          sorted({o["result"] for o in out}))
    return out


@task(name="restore-actions", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def restore_actions(client: GraphClient, block: M365Tenant, of_flow_run: str | None, action_ids: list[int] | None,
                    actor: str, reason: str, flow_run_id: str | None) -> list[dict[str, Any]]:
    """Undo the restorable message actions of a flow run (or the given action ids), once each."""
    out = []
    with store_for(block).session() as s:
        rows = list_actions(s, block.tenant_id, flow_run_id=of_flow_run, target_kind="message")
        if action_ids is not None:
            wanted = set(action_ids)
            rows = [r for r in list_actions(s, block.tenant_id, target_kind="message") if r.id in wanted]
        for row in rows:
            if row.action not in RESTORABLE or row.state != "done":
                continue
            outcome = restore_action(client, s, action_record=row, actor=actor, reason=reason,
                                     flow_run_id=flow_run_id)
            out.append({"action_id": row.id, "mailbox": row.mailbox_id, "action": row.action,
                        "result": outcome.result, "new_message_id": outcome.new_message_id,
                        "detail": outcome.detail})
    return out
