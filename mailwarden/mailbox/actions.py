"""Acting on messages: quarantine, move to junk, soft/hard delete, restore; audited and idempotent.

Every action goes through the audit log (``remediation_actions``) under an idempotency key built
from tenant, mailbox, Internet message id (or Graph id), action and a caller's ``scope``: the
same key never acts twice. The row is written ``planned`` (and committed) before acting and
``done`` after, so a crash in between is finished, not repeated, on the next attempt.

A move gives the message a new id (Graph replies 201 with it); the details keep the original
folder and the new id so :func:`restore_action` can put the message back. ``soft_delete`` moves
to Recoverable Items\\Deletions (restorable); ``hard_delete`` is ``permanentDelete`` (not).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal
from urllib.parse import quote

from sqlalchemy.orm import Session

from mailwarden.graph import GraphClient, GraphStatusError, GraphTransportError, NotFound
from mailwarden.mailbox.reading import _odata_literal, iter_messages, mailbox_path
from mailwarden.store.repositories import begin_action, complete_action, idempotency_key

QUARANTINE_FOLDER = "mailwarden Quarantine"
Action = Literal["quarantine", "move_to_junk", "soft_delete", "hard_delete", "restore"]
ACTIONS: tuple[str, ...] = ("quarantine", "move_to_junk", "soft_delete", "hard_delete", "restore")
RESTORABLE = frozenset({"quarantine", "move_to_junk", "soft_delete"})
_WELL_KNOWN_DEST = {"move_to_junk": "junkemail", "soft_delete": "recoverableitemsdeletions"}


@dataclass
class ActionOutcome:
    """What happened to one message."""

    result: Literal["done", "already_done", "failed", "skipped"]
    new_message_id: str | None
    detail: str


def ensure_quarantine_folder(client: GraphClient, mailbox_id: str) -> str:
    """The id of the mailbox's top-level "mailwarden Quarantine" folder, created if missing."""
    base = mailbox_path(mailbox_id)
    found = _find_folder(client, base, QUARANTINE_FOLDER)
    if found:
        return found
    try:
        made = client.post(f"{base}/mailFolders", {"displayName": QUARANTINE_FOLDER})
        if made and made.get("id"):
            return str(made["id"])
    except GraphStatusError as exc:
        if exc.status != 409:
            raise
    found = _find_folder(client, base, QUARANTINE_FOLDER)
    if not found:
        raise LookupError(f"quarantine folder of mailbox {mailbox_id} could not be created or found")
    return found


def _find_folder(client: GraphClient, base: str, name: str) -> str | None:
    for f in client.iter_pages(f"{base}/mailFolders", params={"$top": "100", "includeHiddenFolders": "true"}):
        if str(f.get("displayName", "")).strip().lower() == name.lower():
            return str(f["id"])
    return None


def _destination(client: GraphClient, mailbox_id: str, action: str) -> str | None:
    if action == "quarantine":
        return ensure_quarantine_folder(client, mailbox_id)
    return _WELL_KNOWN_DEST.get(action)


def _resolve_folder_id(client: GraphClient, mailbox_id: str, ref: str) -> str:
    if ref not in _WELL_KNOWN_DEST.values():
        return ref
    got = client.get(f"{mailbox_path(mailbox_id)}/mailFolders/{ref}", params={"$select": "id"})
    return str(got.get("id") or ref)


def _move(client: GraphClient, mailbox_id: str, message_id: str, destination: str) -> str | None:
    path = f"{mailbox_path(mailbox_id)}/messages/{quote(message_id, safe='')}/move"
    moved = client.post(path, {"destinationId": destination})
    return str(moved["id"]) if moved and moved.get("id") else None


def _locate(client: GraphClient, mailbox_id: str, internet_message_id: str | None, folder: str) -> str | None:
    """The id of the message with this Internet message id in ``folder`` (after a lost reply)."""
    if not internet_message_id:
        return None
    flt = f"internetMessageId eq {_odata_literal(internet_message_id)}"
    try:
        for m in iter_messages(client, mailbox_id, folder=folder, select="id", expand=None, filter=flt):
            return str(m["id"])
    except NotFound:
        return None
    return None


def action_key(tenant_id: str, mailbox_id: str, message: dict[str, Any], action: str, scope: str) -> str:
    """The idempotency key of one action on one message."""
    target = message.get("internetMessageId") or message.get("id")
    return idempotency_key(tenant_id, "message", mailbox_id.lower(), target, action, scope)


def apply_message_action(
    client: GraphClient,
    session: Session,
    *,
    tenant_id: str,
    mailbox_id: str,
    message: dict[str, Any],
    action: Action,
    actor: str,
    reason: str,
    approval: str,
    flow_run_id: str | None,
    scope: str = "",
    act: Callable[[str, str | None, str, bool], tuple[str, str | None, str]] | None = None,
) -> ActionOutcome:
    """Apply ``action`` to one message once (audited); commits the session around the act.

    ``message`` needs ``id`` and ideally ``internetMessageId`` and ``parentFolderId``. Transient
    Graph errors propagate (the row stays ``planned`` and the next attempt finishes it). ``act``
    ``(message id, internet message id, action, retry) -> (result, new id, detail)`` replaces the
    Graph act (an on-premises mailbox acts through EWS); ``client`` is then unused.
    """
    if action not in ACTIONS or action == "restore":
        raise ValueError(f"action must be one of {[a for a in ACTIONS if a != 'restore']} (restore: restore_action)")
    message_id = str(message.get("id") or "")
    imid = message.get("internetMessageId")
    if not message_id:
        raise ValueError("message has no id")
    key = action_key(tenant_id, mailbox_id, message, action, scope)
    details = {"message_id": message_id, "internet_message_id": imid,
               "original_folder_id": message.get("parentFolderId"), "scope": scope}
    record, created = begin_action(
        session, key, tenant_id=tenant_id, target_kind="message", mailbox_id=mailbox_id,
        target=str(imid or message_id), action=action, actor=actor, reason=reason[:512],
        approval=approval, flow_run_id=flow_run_id, details=details)
    session.commit()
    if not created and record.state == "done":
        prior = record.details or {}
        return ActionOutcome("already_done", prior.get("new_message_id"), f"recorded before as {record.result}")
    retry = not created
    source = (record.details or {}).get("message_id") or message_id
    result, new_id, detail = act(str(source), imid, action, retry) if act is not None else \
        _act(client, mailbox_id, str(source), imid, action, retry, None if retry else message.get("parentFolderId"))
    complete_action(session, key, result, details={"new_message_id": new_id, "detail": detail})
    session.commit()
    return ActionOutcome(result, new_id, detail)  # type: ignore[arg-type]


def _act(client: GraphClient, mailbox_id: str, message_id: str, imid: str | None, action: str,
         retry: bool, current_folder: str | None = None) -> tuple[str, str | None, str]:
    if action == "hard_delete":
        try:
            client.post(f"{mailbox_path(mailbox_id)}/messages/{quote(message_id, safe='')}/permanentDelete")
        except NotFound:
            return ("already_done" if retry else "failed"), None, "message not found"
        return "done", None, "permanently deleted"
    dest = _destination(client, mailbox_id, action)
    assert dest is not None
    if current_folder and _resolve_folder_id(client, mailbox_id, dest) == current_folder:
        # e.g. a threat response finding a copy an earlier scan quarantined: not moved (or undone) again
        return "already_done", None, f"already in {dest}: not moved again"
    try:
        return "done", _move(client, mailbox_id, message_id, dest), f"moved to {dest}"
    except GraphTransportError:
        # the move was sent but its outcome is unknown (not re-sent): done if the copy is there
        if found := _locate(client, mailbox_id, imid, dest):
            return "done", found, f"moved to {dest} (its reply was lost)"
        raise
    except NotFound:
        # the move may have happened before a crash, or before its reply was lost: find the moved copy
        found = _locate(client, mailbox_id, imid, dest)
        if found:
            return ("already_done", found, f"found already in {dest}") if retry else \
                ("done", found, f"moved to {dest} (its reply was lost)")
        return "failed", None, "message not found (moved or deleted meanwhile)"


def restore_action(
    client: GraphClient, session: Session, *, action_record: Any, actor: str, reason: str,
    flow_run_id: str | None,
    move: Callable[[str, str], str | None] | None = None,
    locate: Callable[[str | None, str], str | None] | None = None,
) -> ActionOutcome:
    """Move a quarantined / junked / soft-deleted message back to its original folder (audited, once).

    ``move(message id, folder id) -> new id`` and ``locate(internet message id, folder id) -> id``
    replace the Graph calls (an on-premises mailbox restores through EWS).
    """
    details = dict(action_record.details or {})
    new_id, original = details.get("new_message_id"), details.get("original_folder_id")
    mailbox_id = str(action_record.mailbox_id)
    key = idempotency_key(action_record.tenant_id, "message", mailbox_id.lower(), action_record.target,
                          "restore", f"undo:{action_record.id}")
    record, created = begin_action(
        session, key, tenant_id=action_record.tenant_id, target_kind="message", mailbox_id=mailbox_id,
        target=action_record.target, action="restore", actor=actor, reason=reason[:512],
        approval="restore", flow_run_id=flow_run_id,
        details={"undoes": action_record.id, "message_id": new_id, "original_folder_id": original,
                 "internet_message_id": details.get("internet_message_id")})
    session.commit()
    if not created and record.state == "done":
        return ActionOutcome("already_done", (record.details or {}).get("new_message_id"), "restored before")
    if action_record.action not in RESTORABLE or action_record.result not in ("done", "already_done") \
            or not new_id or not original:
        outcome = ActionOutcome("skipped", None, f"{action_record.action} ({action_record.result}) cannot be undone")
    else:
        try:
            mover = move or partial(_move, client, mailbox_id)
            outcome = ActionOutcome("done", mover(str(new_id), str(original)), f"moved back to {original}")
        except GraphTransportError:  # sent, outcome unknown: done if the copy is back
            found = (locate or partial(_locate, client, mailbox_id))(
                details.get("internet_message_id"), str(original))
            if not found:
                raise
            outcome = ActionOutcome("done", found, "moved back (its reply was lost)")
        except NotFound:
            found = (locate or partial(_locate, client, mailbox_id))(
                details.get("internet_message_id"), str(original))
            # moved back before a crash, or before the reply was lost
            outcome = (ActionOutcome("already_done", found, "already back in its folder") if found and not created
                       else ActionOutcome("done", found, "moved back (its reply was lost)") if found
                       else ActionOutcome("failed", None, "message not found where the action left it"))
    complete_action(session, key, outcome.result, details={"new_message_id": outcome.new_message_id,
                                                           "detail": outcome.detail})
    session.commit()
    return outcome
