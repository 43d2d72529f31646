"""Protect one new message: fetch, claim once, classify, apply the tenant's policy action.

The claim (``processed_messages``, keyed by Internet message id) is what keeps the notification
path and the delta sweep from acting twice on one message: whoever claims first processes it,
the other sees a duplicate. Actions go through the audited, idempotent
:func:`mailwarden.mailbox.apply_message_action` (quarantine, move to junk) or, for ``notify``,
an audited mail to the mailbox's owner that leaves the message untouched (no banner).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from sqlalchemy.orm import Session

from mailwarden.detection import Category, DetectionContext, DetectionPolicy, classify, default_policy
from mailwarden.graph import GraphClient, NotFound
from mailwarden.mailbox import MESSAGE_SELECT, action_key, apply_message_action, mailbox_path
from mailwarden.store.repositories import begin_action, claim_message, complete_action, release_claim

PolicyAction = Literal["quarantine", "move_to_junk", "notify", "report"]
POLICY_ACTIONS: tuple[str, ...] = ("quarantine", "move_to_junk", "notify", "report")
CATEGORIES = tuple(c.value for c in Category)
HARMLESS = frozenset({Category.CLEAN.value, Category.EXTERNAL.value})
"""Verdicts that are no threat: such a message is left alone (status ``clean``)."""
ACTOR = "protection"
SCOPE = "protection"
Path = Literal["notification", "delta"]


@dataclass
class ProtectionPolicy:
    """The tenant's action per verdict category; unlisted categories are only reported."""

    actions: dict[str, str] = field(default_factory=lambda: {"malicious": "quarantine",
                                                             "suspicious": "move_to_junk"})

    def __post_init__(self) -> None:
        for category, action in self.actions.items():
            if category not in CATEGORIES:
                raise ValueError(f"unknown category {category!r}; known: {list(CATEGORIES)}")
            if action not in POLICY_ACTIONS:
                raise ValueError(f"unknown action {action!r}; known: {list(POLICY_ACTIONS)}")

    def action_for(self, category: str) -> str:
        return self.actions.get(category, "report")


@dataclass
class ProtectOutcome:
    """What happened to one message."""

    mailbox_id: str
    message_id: str
    status: Literal["acted", "reported", "clean", "duplicate", "gone"]
    path: str
    category: str | None = None
    score: float | None = None
    action: str | None = None
    result: str | None = None
    sender: str | None = None
    internet_message_id: str | None = None
    subject: str | None = None
    reasons: list[str] = field(default_factory=list)
    tenant_id: str | None = None


def fetch_message(client: GraphClient, mailbox_id: str, message_id: str) -> dict[str, Any] | None:
    """The message with what detection reads (attachments expanded), or None if it is gone."""
    path = f"{mailbox_path(mailbox_id)}/messages/{quote(message_id, safe='')}"
    try:
        return client.get(path, params={"$select": MESSAGE_SELECT, "$expand": "attachments"})
    except NotFound:
        return None


def _sender(message: dict[str, Any]) -> str | None:
    got = ((message.get("from") or message.get("sender") or {}).get("emailAddress") or {}).get("address")
    return str(got).lower() if got else None


def protect_message(
    client: GraphClient, session: Session, *, tenant_id: str, mailbox_id: str, message_id: str,
    path: Path, policy: ProtectionPolicy, context: DetectionContext | None = None,
    detection_policy: DetectionPolicy | None = None, flow_run_id: str | None = None,
) -> ProtectOutcome:
    """Process one message once (whichever path comes first); transient Graph errors propagate
    with the claim released, so a retry or the other path can still take the message."""
    message = fetch_message(client, mailbox_id, message_id)
    if message is None:
        return ProtectOutcome(mailbox_id, message_id, "gone", path, tenant_id=tenant_id)
    imid = message.get("internetMessageId")
    claimed = claim_message(session, tenant_id, mailbox_id, internet_message_id=imid,
                            message_id=str(message["id"]), path=path)
    session.commit()
    out = ProtectOutcome(mailbox_id, str(message["id"]), "duplicate", path, sender=_sender(message),
                         internet_message_id=imid, subject=message.get("subject"), tenant_id=tenant_id)
    if not claimed:
        return out
    try:
        verdict = classify(message, context, detection_policy or default_policy())
        out.category, out.score = str(verdict.category), verdict.score
        out.reasons = [r.code for r in verdict.reasons]
        action = policy.action_for(out.category)
        out.action = action
        if out.category in HARMLESS and action == "report":
            out.status = "clean"
        elif action == "report":
            out.status = "reported"
        else:
            reason = f"protection:{out.category} score={verdict.score}"
            if action == "notify":
                out.result = notify_owner(client, session, tenant_id=tenant_id, mailbox_id=mailbox_id,
                                          message=message, reason=reason, flow_run_id=flow_run_id)
            else:
                done = apply_message_action(
                    client, session, tenant_id=tenant_id, mailbox_id=mailbox_id, message=message,
                    action=action,  # type: ignore[arg-type]
                    actor=ACTOR, reason=reason, approval="policy", flow_run_id=flow_run_id, scope=SCOPE)
                out.result = done.result
            out.status = "acted"
    except Exception:
        session.rollback()
        release_claim(session, tenant_id, mailbox_id, internet_message_id=imid, message_id=str(message["id"]))
        session.commit()
        raise
    return out


def notify_owner(
    client: GraphClient, session: Session, *, tenant_id: str, mailbox_id: str, message: dict[str, Any],
    reason: str, flow_run_id: str | None,
) -> str:
    """Tell the mailbox's owner a message looks dangerous, without touching it (audited, once)."""
    key = action_key(tenant_id, mailbox_id, message, "notify", SCOPE)
    record, created = begin_action(
        session, key, tenant_id=tenant_id, target_kind="message", mailbox_id=mailbox_id,
        target=str(message.get("internetMessageId") or message["id"]), action="notify", actor=ACTOR,
        reason=reason[:512], approval="policy", flow_run_id=flow_run_id,
        details={"message_id": message["id"], "internet_message_id": message.get("internetMessageId")})
    session.commit()
    if not created and record.state == "done":
        return "already_done"
    owner = client.get(mailbox_path(mailbox_id), params={"$select": "mail,userPrincipalName"})
    address = owner.get("mail") or owner.get("userPrincipalName")
    subject = str(message.get("subject") or "(no subject)")[:200]
    client.post(f"{mailbox_path(mailbox_id)}/sendMail", {"message": {
        "subject": "Security notice: a message you received looks dangerous",
        "body": {"contentType": "Text", "content": (
            f"The message \"{subject}\" from {_sender(message) or 'an unknown sender'} was flagged "
            "by your organisation's mail protection. Do not open its links or attachments; "
            "report it to your IT team if you were not expecting it.")},
        "toRecipients": [{"emailAddress": {"address": address}}]}, "saveToSentItems": False})
    complete_action(session, key, "done", details={"notified": address})
    session.commit()
    return "done"
