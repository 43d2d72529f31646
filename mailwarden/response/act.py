"""Acting on every copy of a threat, and undoing it.

Each copy goes through the audited, idempotent
:meth:`~mailwarden.mailbox.access.MailboxAccess.apply_action` under the response's scope, so a
copy is acted on once however often the flow runs. :func:`restore_actions` moves what a run
quarantined, junked or soft-deleted back to the original folder (audited, once per action).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, cast

from sqlalchemy.orm import Session

from mailwarden.mailbox import RESTORABLE, Action, ActionOutcome
from mailwarden.mailbox.access import SIDE_LABEL, MailboxAccess, OnPremUnavailable
from mailwarden.policy import PolicyViolation, TenantPolicy
from mailwarden.response.search import Copy
from mailwarden.store.repositories import list_actions

RESPONSE_ACTOR = "threat-response"


def check_unattended(policy: TenantPolicy, action: str, approval: str) -> None:
    """Refuse ``approval="auto"`` for an action the tenant's policy always asks about (before any search)."""
    if approval == "auto" and action not in policy.threat_unattended_actions:
        raise PolicyViolation(f"the tenant's policy requires approval for {action}: approval='auto' cannot skip it "
                              "(change threat_unattended_actions in the tenant's policy block)")


def why_ask(policy: TenantPolicy, action: str, copies: int, approval: str) -> str | None:
    """Why this response waits for an approval (None: it may act at once)."""
    return policy.unattended_threat_action(action, copies) if approval == "auto" else "approval asked"


@dataclass
class CopyResult:
    """What acting on one copy did."""

    mailbox: str
    side: str
    message_id: str
    result: str
    new_message_id: str | None
    detail: str

    def row(self) -> dict[str, Any]:
        return asdict(self)


def counts(results: Iterable[CopyResult | RestoreResult]) -> dict[str, int]:
    """Results by outcome (``done``, ``already_done``, ``failed`` ...)."""
    return dict(Counter(r.result for r in results))


def act_on_copies(mailbox: MailboxAccess, session: Session, *, tenant_id: str, copies: list[Copy], action: str,
                  actor: str, reason: str, approval: str, flow_run_id: str | None, scope: str) -> list[CopyResult]:
    """Apply ``action`` to every copy found in one mailbox (audited, once per copy and scope)."""
    side = SIDE_LABEL[mailbox.location]
    out = []
    for copy in copies:
        try:
            outcome = mailbox.apply_action(session, tenant_id=tenant_id, message=copy.message(),
                                           action=cast(Action, action), actor=actor, reason=reason,
                                           approval=approval, flow_run_id=flow_run_id, scope=scope)
        except OnPremUnavailable as exc:
            outcome = ActionOutcome("failed", None, str(exc))
        out.append(CopyResult(mailbox.mailbox_id, side, copy.id, outcome.result, outcome.new_message_id,
                              outcome.detail))
    return out


@dataclass
class RestoreResult:
    """What undoing one recorded action did."""

    action_id: int
    mailbox: str
    side: str
    action: str
    result: str
    new_message_id: str | None
    detail: str

    def row(self) -> dict[str, Any]:
        return asdict(self)


def restore_actions(session: Session, access: Callable[[str], MailboxAccess], *, tenant_id: str,
                    of_flow_run: str | None, action_ids: list[int] | None, actor: str, reason: str,
                    flow_run_id: str | None) -> list[RestoreResult]:
    """Undo the restorable message actions of a flow run (or the given action ids), once each.

    ``access(mailbox id)`` gives each mailbox's access (EWS for an on-premises one).
    """
    rows = list_actions(session, tenant_id, flow_run_id=of_flow_run, target_kind="message")
    if action_ids is not None:
        wanted = set(action_ids)
        rows = [r for r in list_actions(session, tenant_id, target_kind="message") if r.id in wanted]
    out = []
    for row in rows:
        if row.action not in RESTORABLE or row.state != "done":
            continue
        mailbox = access(str(row.mailbox_id))
        try:
            outcome = mailbox.restore(session, action_record=row, actor=actor, reason=reason, flow_run_id=flow_run_id)
        except OnPremUnavailable as exc:
            outcome = ActionOutcome("failed", None, str(exc))
        out.append(RestoreResult(row.id, str(row.mailbox_id), SIDE_LABEL[mailbox.location], row.action,
                                 outcome.result, outcome.new_message_id, outcome.detail))
    return out
