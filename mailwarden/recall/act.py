"""Recalling one message from one mailbox: find its copies in any folder and act on each, once.

Acting goes through :func:`mailwarden.mailbox.apply_message_action` (audited, idempotent) under
the scope ``recall``, so the ``restore`` flow can undo a run's quarantines and soft deletes by its
flow run id, and a second recall of the same message acts on nothing again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from mailwarden.graph import Forbidden, GraphClient, NotFound
from mailwarden.mailbox import MessageQuery, action_key, apply_message_action, find_by_internet_message_id
from mailwarden.mailbox.access import MailboxAccess
from mailwarden.store.repositories import get_action

RECALL_SCOPE = "recall"
Status = Literal["recalled", "already_recalled", "not_found", "read_left_alone", "external", "unresolved",
                 "failed", "planned"]
STATUS_TEXT: dict[str, str] = {
    "recalled": "recalled",
    "already_recalled": "already deleted / already recalled",
    "not_found": "not found",
    "read_left_alone": "read: left alone",
    "external": "external (not recallable)",
    "unresolved": "no mailbox behind this address",
    "failed": "failed",
    "planned": "to be recalled (awaiting approval)",
}


@dataclass
class RecipientResult:
    """One row of the recall report."""

    recipient: str
    mailbox_id: str | None
    status: Status
    via: str = ""
    folder: str = ""
    internet_message_id: str = ""
    detail: str = ""
    side: str = ""
    """Where the mailbox lives: ``cloud`` or ``on-premises`` (Exchange hybrid); empty without a mailbox."""

    def row(self) -> dict[str, Any]:
        return {**asdict(self), "result": STATUS_TEXT[self.status]}


@dataclass(frozen=True)
class RecallOptions:
    """How a recall acts on each copy, and what the audit log records of it."""

    action: str
    include_read: bool
    actor: str
    reason: str
    approval: str
    flow_run_id: str | None


def _done_before(session: Session, tenant_id: str, mailbox_id: str, imid: str, action: str) -> bool:
    key = action_key(tenant_id, mailbox_id, {"internetMessageId": imid}, action, RECALL_SCOPE)
    record = get_action(session, key)
    return record is not None and record.state == "done" and record.result in ("done", "already_done")


def recall_from_mailbox(
    client: GraphClient,
    session: Session,
    *,
    tenant_id: str,
    mailbox_id: str,
    recipient: str,
    internet_message_id: str,
    action: str,
    include_read: bool,
    actor: str,
    reason: str,
    approval: str,
    flow_run_id: str | None,
    via: str = "",
    folders: dict[str, str] | None = None,
    access: MailboxAccess | None = None,
) -> list[RecipientResult]:
    """Recall every copy of ``internet_message_id`` in one mailbox; one result per copy (or one if none).

    ``access`` (an on-premises mailbox's, see :mod:`mailwarden.mailbox.access`) replaces ``client``.
    """
    base = {"recipient": recipient, "mailbox_id": mailbox_id, "via": via, "internet_message_id": internet_message_id,
            "side": "on-premises" if access is not None and access.location == "onprem" else "cloud"}
    try:
        copies = (access.find_messages(MessageQuery(internet_message_id=internet_message_id)) if access
                  else find_by_internet_message_id(client, mailbox_id, internet_message_id))
    except (NotFound, Forbidden) as exc:
        return [RecipientResult(**base, status="failed", detail=f"mailbox not readable: {type(exc).__name__}")]
    if not copies:
        if _done_before(session, tenant_id, mailbox_id, internet_message_id, action):
            return [RecipientResult(**base, status="already_recalled", detail="recalled by an earlier run")]
        return [RecipientResult(**base, status="not_found", detail="no copy in any folder (deleted by the user?)")]
    out = []
    for msg in copies:
        folder = (folders or {}).get(str(msg.get("parentFolderId")), str(msg.get("parentFolderId") or ""))
        if msg.get("isRead") and not include_read \
                and not _done_before(session, tenant_id, mailbox_id, internet_message_id, action):
            out.append(RecipientResult(**base, status="read_left_alone", folder=folder,
                                       detail="the copy was read (include_read is off)"))
            continue
        try:
            kw: dict[str, Any] = {"tenant_id": tenant_id, "message": msg, "action": action, "actor": actor,
                                  "reason": reason, "approval": approval, "flow_run_id": flow_run_id,
                                  "scope": RECALL_SCOPE}
            outcome = access.apply_action(session, **kw) if access else \
                apply_message_action(client, session, mailbox_id=mailbox_id, **kw)
        except (NotFound, Forbidden) as exc:
            out.append(RecipientResult(**base, status="failed", folder=folder, detail=f"{type(exc).__name__}"))
            continue
        status: Status = {"done": "recalled", "already_done": "already_recalled"}.get(  # type: ignore[assignment]
            outcome.result, "failed")
        out.append(RecipientResult(**base, status=status, folder=folder, detail=outcome.detail))
    return out
