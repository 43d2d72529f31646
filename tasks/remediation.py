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
    ActionOutcome,
    MessageQuery,
    find_messages,
    folder_names,
)
from mailwarden.mailbox.ews import OnPremUnavailable
from mailwarden.store.repositories import list_actions
from tasks.common import retry_transient, store_for
from tasks.mailbox_access import Where, mailbox_access, mailbox_sides, side_of


@task(name="search-mailbox", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def search_mailbox(client: GraphClient, mailbox_id: str, query: MessageQuery, block: M365Tenant | None = None,
                   where: Where = None) -> dict[str, Any]:
    """The copies of a threat in one mailbox with folder and read state (a gone mailbox: an error).

    ``where`` (see :mod:`tasks.mailbox_access`) sends an on-premises mailbox through EWS.
    """
    try:
        access = mailbox_access(block, client, mailbox_id, where) if block is not None else None
        found = access.find_messages(query) if access else find_messages(client, mailbox_id, query)
        names = (access.folder_names() if access else folder_names(client, mailbox_id)) if found else {}
    except (NotFound, Forbidden, OnPremUnavailable) as exc:
        return {"mailbox": mailbox_id, "side": side_of(where), "hits": [],
                "error": f"{type(exc).__name__}: {exc}"[:300]}
    hits = [{"mailbox": mailbox_id, "id": m["id"], "internetMessageId": m.get("internetMessageId"),
             "parentFolderId": m.get("parentFolderId"),
             "folder": names.get(str(m.get("parentFolderId")), str(m.get("parentFolderId"))),
             "isRead": bool(m.get("isRead")), "subject": m.get("subject"),
             "receivedDateTime": m.get("receivedDateTime")} for m in found]
    for h in hits:
        h["side"] = side_of(where)
    return {"mailbox": mailbox_id, "side": side_of(where), "hits": hits, "error": None}


@task(name="act-on-mailbox", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def act_on_mailbox(client: GraphClient, block: M365Tenant, mailbox_id: str, hits: list[dict[str, Any]],
                   action: str, actor: str, reason: str, approval: str, flow_run_id: str | None,
                   scope: str, where: Where = None) -> list[dict[str, Any]]:
    """Apply ``action`` to every copy found in one mailbox (audited, once per copy and scope)."""
    out = []
    access = mailbox_access(block, client, mailbox_id, where)
    with store_for(block).session() as s:
        for hit in hits:
            try:
                outcome = access.apply_action(
                    s, tenant_id=block.tenant_id, message=hit, action=action,  # type: ignore[arg-type]
                    actor=actor, reason=reason, approval=approval, flow_run_id=flow_run_id, scope=scope)
            except OnPremUnavailable as exc:
                outcome = ActionOutcome("failed", None, str(exc))
            out.append({"mailbox": mailbox_id, "side": side_of(where), "message_id": hit["id"],
                        "result": outcome.result, "new_message_id": outcome.new_message_id,
                        "detail": outcome.detail})
    get_run_logger().info("%s on %d copies in %s: %s", action, len(out), mailbox_id,
                          sorted({o["result"] for o in out}))
    return out


@task(name="restore-actions", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def restore_actions(client: GraphClient, block: M365Tenant, of_flow_run: str | None, action_ids: list[int] | None,
                    actor: str, reason: str, flow_run_id: str | None) -> list[dict[str, Any]]:
    """Undo the restorable message actions of a flow run (or the given action ids), once each."""
    out = []
    sides = mailbox_sides(block)  # on-premises mailboxes are restored through EWS
    with store_for(block).session() as s:
        rows = list_actions(s, block.tenant_id, flow_run_id=of_flow_run, target_kind="message")
        if action_ids is not None:
            wanted = set(action_ids)
            rows = [r for r in list_actions(s, block.tenant_id, target_kind="message") if r.id in wanted]
        for row in rows:
            if row.action not in RESTORABLE or row.state != "done":
                continue
            where = sides.get(str(row.mailbox_id).lower())
            try:
                outcome = mailbox_access(block, client, str(row.mailbox_id), where).restore(
                    s, action_record=row, actor=actor, reason=reason, flow_run_id=flow_run_id)
            except OnPremUnavailable as exc:
                outcome = ActionOutcome("failed", None, str(exc))
            out.append({"action_id": row.id, "mailbox": row.mailbox_id, "side": side_of(where), "action": row.action,
                        "result": outcome.result, "new_message_id": outcome.new_message_id,
                        "detail": outcome.detail})
    return out
