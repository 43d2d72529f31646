"""The audit log: every remediation, exactly once per idempotency key.

```python
action, created = record_action(session, key, tenant_id=..., target_kind="message",
                                target=..., action="quarantine", actor="threat-response",
                                reason="policy:phish", approval="auto", flow_run_id=run_id,
                                result="done", details={"new_message_id": ...})
```
When ``key`` was recorded before, the first record is returned with ``created=False`` and the
caller must not act again. For steps where a crash between acting and recording matters, use
``begin_action`` (state ``planned``) before acting and ``complete_action`` after: a row still
``planned`` on the next attempt says "verify the target, then complete".
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailwarden.store.errors import RecordNotFound
from mailwarden.store.models import RemediationAction
from mailwarden.store.repositories._common import check_fields, insert_ignore
from mailwarden.store.types import utcnow

_REQUIRED = ("tenant_id", "target_kind", "target", "action", "actor")
_OPTIONAL = ("mailbox_id", "reason", "approval", "flow_run_id", "result", "details")
RESULTS = frozenset({"done", "skipped", "failed", "already_done"})
KEY_MAX = 255


def idempotency_key(*parts: object) -> str:
    """Join parts into a key (``tenant:action:mailbox:item``); long keys are hashed to fit."""
    key = ":".join(str(p) for p in parts)
    if len(key) > KEY_MAX:
        key = key[:180] + ":sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def record_action(session: Session, key: str, **fields: Any) -> tuple[RemediationAction, bool]:
    """Record a finished remediation; returns ``(record, created)``, the first record if ``key`` exists.

    Race-safe across threads and processes (insert-or-ignore on the unique key, then read).
    """
    result = fields.setdefault("result", "done")
    if result not in RESULTS:
        raise ValueError(f"result must be one of {sorted(RESULTS)}")
    return _insert_action(session, key, "done", fields)


def begin_action(session: Session, key: str, **fields: Any) -> tuple[RemediationAction, bool]:
    """Record an action as ``planned`` before acting; ``created=False`` if ``key`` exists already."""
    if "result" in fields:
        raise TypeError("a planned action has no result yet: pass it to complete_action")
    return _insert_action(session, key, "planned", fields)


def complete_action(
    session: Session, key: str, result: str, *, details: dict[str, Any] | None = None
) -> RemediationAction:
    """Mark a planned action done with its result (details merged); a done action is left as is."""
    if result not in RESULTS:
        raise ValueError(f"result must be one of {sorted(RESULTS)}")
    action = get_action(session, key)
    if action is None:
        raise RecordNotFound(f"no action with key {key!r}")
    if action.state == "done":
        return action
    action.state = "done"
    action.result = result
    action.completed_at = utcnow()
    if details:
        action.details = {**(action.details or {}), **details}
    session.flush()
    return action


def get_action(session: Session, key: str) -> RemediationAction | None:
    """The action recorded under ``key``, if any."""
    stmt = select(RemediationAction).where(RemediationAction.idempotency_key == key)
    return session.scalars(stmt.execution_options(populate_existing=True)).first()


def list_actions(
    session: Session,
    tenant_id: str,
    *,
    flow_run_id: str | None = None,
    state: str | None = None,
    target_kind: str | None = None,
) -> list[RemediationAction]:
    """The tenant's audit log, oldest first, optionally narrowed."""
    stmt = select(RemediationAction).where(RemediationAction.tenant_id == tenant_id)
    if flow_run_id is not None:
        stmt = stmt.where(RemediationAction.flow_run_id == flow_run_id)
    if state is not None:
        stmt = stmt.where(RemediationAction.state == state)
    if target_kind is not None:
        stmt = stmt.where(RemediationAction.target_kind == target_kind)
    return list(session.scalars(stmt.order_by(RemediationAction.created_at, RemediationAction.id)))


def _insert_action(
    session: Session, key: str, state: str, fields: dict[str, Any]
) -> tuple[RemediationAction, bool]:
    if not key or len(key) > KEY_MAX:
        raise ValueError(f"idempotency key must be 1..{KEY_MAX} characters (see idempotency_key())")
    check_fields(fields, (*_REQUIRED, *_OPTIONAL), "action")
    missing = [name for name in _REQUIRED if not fields.get(name)]
    if missing:
        raise TypeError(f"missing action field(s): {', '.join(missing)}")
    now = utcnow()
    row = {name: fields.get(name) for name in (*_REQUIRED, *_OPTIONAL)}
    row.update(
        idempotency_key=key,
        state=state,
        created_at=now,
        completed_at=now if state == "done" else None,
    )
    created = insert_ignore(session, RemediationAction, [row], ["idempotency_key"]) == 1
    action = get_action(session, key)
    assert action is not None
    return action, created
