"""Takeover-response playbook runs and admin-consent requests (the callback's CSRF check)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailwarden.store.errors import (
    ConsentRequestExpired,
    ConsentRequestReused,
    ConsentRequestUnknown,
    RecordNotFound,
)
from mailwarden.store.models import ConsentRequest, PlaybookRun
from mailwarden.store.repositories._common import check_fields
from mailwarden.store.types import hash_secret_ref, utcnow

_RUN_FIELDS = {"status", "steps", "evidence", "finished_at", "trigger", "flow_run_id"}
FINAL_STATUSES = frozenset({"done", "failed", "cancelled"})


def create_playbook_run(
    session: Session,
    tenant_id: str,
    user_id: str,
    *,
    flow_run_id: str | None = None,
    trigger: str | None = None,
    evidence: Mapping[str, Any] | None = None,
) -> PlaybookRun:
    """Start a playbook run for a user; status ``running``, no steps yet."""
    run = PlaybookRun(
        tenant_id=tenant_id,
        user_id=user_id,
        flow_run_id=flow_run_id,
        trigger=trigger,
        evidence=dict(evidence) if evidence is not None else None,
        steps=[],
        status="running",
        started_at=utcnow(),
    )
    session.add(run)
    session.flush()
    return run


def get_playbook_run(session: Session, run_id: str) -> PlaybookRun | None:
    """A playbook run by id."""
    return session.get(PlaybookRun, run_id)


def update_playbook_run(session: Session, run_id: str, **fields: Any) -> PlaybookRun:
    """Set fields of a run; a final status (done/failed/cancelled) stamps ``finished_at``."""
    check_fields(fields, _RUN_FIELDS, "playbook run")
    run = session.get(PlaybookRun, run_id)
    if run is None:
        raise RecordNotFound(f"no playbook run {run_id!r}")
    for name, value in fields.items():
        setattr(run, name, value)
    if fields.get("status") in FINAL_STATUSES and run.finished_at is None:
        run.finished_at = utcnow()
    session.flush()
    return run


def append_playbook_step(session: Session, run_id: str, step: Mapping[str, Any]) -> PlaybookRun:
    """Append one step record (``{"name", "result", ...}``) to a run."""
    run = session.get(PlaybookRun, run_id)
    if run is None:
        raise RecordNotFound(f"no playbook run {run_id!r}")
    run.steps = [*(run.steps or []), dict(step)]  # a new list, so the change is detected
    session.flush()
    return run


def create_consent_request(
    session: Session,
    state: str,
    tenant_ref: str,
    *,
    flow_run_id: str | None = None,
    tier: str | None = None,
    ttl: timedelta = timedelta(minutes=30),
    now: datetime | None = None,
) -> ConsentRequest:
    """Remember an outgoing admin-consent request by the hash of its ``state`` (never the state)."""
    now = now or utcnow()
    request = ConsentRequest(
        state_hash=hash_secret_ref(state),
        tenant_ref=tenant_ref,
        tier=tier,
        flow_run_id=flow_run_id,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(request)
    session.flush()
    return request


def consume_consent_request(
    session: Session, state: str, *, outcome: str = "consented", now: datetime | None = None
) -> ConsentRequest:
    """Accept a callback's ``state`` once: unknown, expired or reused states raise.

    Race-safe: the conditional UPDATE lets exactly one of two concurrent callbacks through.
    """
    now = now or utcnow()
    digest = hash_secret_ref(state) if state else ""
    result: Any = session.execute(
        update(ConsentRequest)
        .where(
            ConsentRequest.state_hash == digest,
            ConsentRequest.used_at.is_(None),
            ConsentRequest.expires_at > now,
        )
        .values(used_at=now, outcome=outcome)
        .execution_options(synchronize_session=False)
    )
    request = session.scalars(
        select(ConsentRequest)
        .where(ConsentRequest.state_hash == digest)
        .execution_options(populate_existing=True)
    ).first()
    if result.rowcount == 1 and request is not None:
        return request
    if request is None:
        raise ConsentRequestUnknown("no consent request matches this state")
    if request.used_at is not None:
        raise ConsentRequestReused("this consent request was already used")
    raise ConsentRequestExpired("this consent request has expired")
