"""Tasks of the ``historic-scan`` flow: plan the mailboxes, scan one mailbox, report.

One task per mailbox (never per message). A mailbox task pages through its messages with only
the properties detection needs (the next page is read while this one is classified), classifies
each, stores the findings of each page in one bulk insert (idempotent per scan key), applies the
policy's action per category through the audited, idempotent
:func:`mailwarden.mailbox.apply_message_action`, and checkpoints the mailbox. Transient Graph
failures raise (the task retries); a mailbox that is gone or forbidden is checkpointed
``failed`` with the reason and does not fail the scan.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field, field_validator

from blocks.m365 import M365Tenant
from mailwarden.detection import Category, DetectionContext, DetectionPolicy, classify, default_policy
from mailwarden.directory import AddressBook
from mailwarden.graph import (
    ConsentMissing,
    Forbidden,
    GraphClient,
    GraphTransportError,
    NotFound,
    ServiceUnavailable,
    Throttled,
)
from mailwarden.mailbox.access import GraphAccess, MailboxAccess, OnPremUnavailable
from mailwarden.mailbox.reading import read_ahead
from mailwarden.store.repositories import (
    add_findings,
    ensure_checkpoints,
    get_checkpoint,
    mark_checkpoint_done,
    mark_checkpoint_failed,
    mark_checkpoint_running,
)
from tasks.common import graph_client_for, store_for
from tasks.mailbox_access import Where, mailbox_access, side_of
from tasks.runners import task_tenant

TRANSIENT = (GraphTransportError, Throttled, ServiceUnavailable)
SCAN_ACTOR = "historic-scan"
ALL_FOLDERS = "*"
PolicyAction = Literal["report", "quarantine", "move_to_junk", "soft_delete", "hard_delete"]
CATEGORIES = tuple(c.value for c in Category)


class ScanPolicy(BaseModel):
    """What to do per verdict category; anything not listed is only reported (stored as a finding)."""

    actions: dict[str, PolicyAction] = Field(default_factory=dict)
    store_clean: bool = False
    """Also store ``clean`` verdicts as findings (off: only what is worth a look)."""

    @field_validator("actions")
    @classmethod
    def _known_categories(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(CATEGORIES)
        if unknown:
            raise ValueError(f"unknown categories {sorted(unknown)}; known: {list(CATEGORIES)}")
        return value

    def action_for(self, category: str) -> str:
        return self.actions.get(category, "report")


def is_transient(exc: BaseException | None) -> bool:
    """Whether a mailbox failure is worth retrying."""
    return isinstance(exc, TRANSIENT)


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """``retry_condition_fn``: retry only transient Graph failures."""
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - the task's own exception
        return is_transient(exc)
    return False


def scan_window(days: int | None, since: datetime | None, now: datetime | None = None) -> datetime:
    """The scan's start: ``since`` as given, else midnight UTC ``days`` ago (stable within a day)."""
    if since is not None:
        return since if since.tzinfo else since.replace(tzinfo=UTC)
    if days is None or days < 1:
        raise ValueError("days must be at least 1 (or give since)")
    today = (now or datetime.now(UTC)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days)


def scan_key(tenant_id: str, since: datetime, folders: list[str] | None, policy: ScanPolicy) -> str:
    """The scope of a scan: same tenant, window, folders and policy -> same key (a re-run resumes)."""
    blob = json.dumps({"t": tenant_id, "since": since.isoformat(), "folders": sorted(folders or []),
                       "policy": policy.model_dump(mode="json")}, sort_keys=True)
    return "historic:" + hashlib.sha256(blob.encode()).hexdigest()[:32]


def protected_mailboxes(book: AddressBook) -> list[str]:
    """Mailbox object ids of the tenant's people and shared mailboxes (no guests)."""
    o = book.objects
    mask = o["has_mailbox"].fillna(False).astype(bool) & o["user_type"].ne("Guest")
    return sorted(str(i) for i in o.index[mask])


class ScanPlan(BaseModel):
    """What a scan covers and where it stands."""

    model_config = {"arbitrary_types_allowed": True}
    scope: str
    since: datetime
    mailboxes: list[str]
    done_before: list[str]
    context: Any = None
    addresses: dict[str, str] = {}
    """Mailbox id -> address (from the address book), for reports."""


@task(name="plan-scan", retries=2, retry_delay_seconds=2, retry_condition_fn=retry_transient, cache_policy=NO_CACHE)
def plan_scan(block: M365Tenant, scope: str, since: datetime, mailboxes: list[str] | None,
              folders: list[str] | None) -> ScanPlan:
    """Resolve the mailboxes (address book), build the detection context, create the checkpoints."""
    store = store_for(block)
    with store.session() as s:
        book = AddressBook.load(s, block.tenant_id)
        targets = protected_mailboxes(book)
        if mailboxes:
            wanted: list[str] = []
            for ref in mailboxes:
                mb = ref if ref in book.objects.index else book.mailbox_of(ref)
                if mb is None:
                    raise ValueError(f"{ref!r} is not a mailbox of {block.primary_domain}")
                wanted.append(mb)
            targets = sorted(set(wanted))
        folder_key = _folder_key(folders)
        ensure_checkpoints(s, block.tenant_id, scope, [(m, folder_key) for m in targets])
        done = [m for m in targets
                if (cp := get_checkpoint(s, block.tenant_id, scope, m, folder_key)) and cp.state == "done"]
        s.commit()
    context = DetectionContext(**book.detection_context_kwargs())
    get_run_logger().info("scan %s: %d mailboxes since %s, %d already done", scope, len(targets),
                          since.isoformat(), len(done))
    return ScanPlan(scope=scope, since=since, mailboxes=targets, done_before=done, context=context,
                    addresses=book.addresses_of(targets))


def _folder_key(folders: list[str] | None) -> str:
    return ",".join(sorted(folders)) if folders else ALL_FOLDERS


def _finding(tenant_id: str, scope: str, mailbox_id: str, msg: dict[str, Any], verdict: Any) -> dict[str, Any]:
    sender = ((msg.get("from") or msg.get("sender") or {}).get("emailAddress") or {}).get("address")
    received = msg.get("receivedDateTime")
    return {
        "tenant_id": tenant_id, "scan_id": scope, "mailbox_id": mailbox_id, "message_id": msg.get("id"),
        "internet_message_id": msg.get("internetMessageId"), "folder_id": msg.get("parentFolderId"),
        "category": str(verdict.category), "score": verdict.score,
        "reasons": [{"code": r.code, "detail": r.detail, "weight": r.weight} for r in verdict.reasons],
        "received_at": datetime.fromisoformat(received.replace("Z", "+00:00")) if received else None,
        "subject": msg.get("subject"), "sender": sender,
    }


def scan_one_mailbox(
    client: GraphClient, store: Any, *, tenant_id: str, scope: str, mailbox_id: str, since: datetime,
    folders: list[str] | None, policy: ScanPolicy, context: DetectionContext | None,
    flow_run_id: str | None, detection_policy: DetectionPolicy | None = None, page_size: int = 250,
    access: MailboxAccess | None = None,
) -> dict[str, Any]:
    """Scan one mailbox (the body of the task; no Prefect): returns its summary.

    ``access`` reads and acts on the mailbox wherever it lives (default: Graph with ``client``).
    """
    mailbox = access or GraphAccess(client, mailbox_id)
    folder_key = _folder_key(folders)
    out: dict[str, Any] = {"mailbox": mailbox_id, "status": "done", "seen": 0, "skipped": False,
                           "categories": {}, "actions": {}, "error": None}
    with store.session() as s:
        cp = get_checkpoint(s, tenant_id, scope, mailbox_id, folder_key)
        if cp is not None and cp.state == "done":
            out.update(skipped=True, seen=cp.messages_seen)
            return out
        mark_checkpoint_running(s, tenant_id, scope, mailbox_id, folder_key)
        s.commit()
    pol = detection_policy or default_policy()
    cats: Counter[str] = Counter()
    acts: Counter[str] = Counter()
    batch: list[dict[str, Any]] = []
    latest: datetime | None = None
    try:
        with store.session() as s:
            targets: list[str | None] = list(folders) if folders else [None]
            for folder in targets:
                messages = mailbox.iter_messages(since=since, folder=folder, page_size=page_size)
                for msg in read_ahead(messages, page_size):  # the next page is fetched during this one's work
                    out["seen"] += 1
                    verdict = classify(msg, context, pol)
                    category = str(verdict.category)
                    cats[category] += 1
                    if category != Category.CLEAN or policy.store_clean:
                        batch.append(_finding(tenant_id, scope, mailbox_id, msg, verdict))
                    received = msg.get("receivedDateTime")
                    if received:
                        at = datetime.fromisoformat(received.replace("Z", "+00:00"))
                        latest = at if latest is None or at > latest else latest
                    action = policy.action_for(category)
                    if action != "report":
                        outcome = mailbox.apply_action(
                            s, tenant_id=tenant_id, message=msg,
                            action=action,  # type: ignore[arg-type]
                            actor=SCAN_ACTOR, reason=f"policy:{category} score={verdict.score}",
                            approval="policy", flow_run_id=flow_run_id, scope=scope)
                        acts[f"{action}:{outcome.result}"] += 1
                    if batch and out["seen"] % page_size == 0:  # one transaction per page of messages
                        add_findings(s, batch)
                        s.commit()
                        batch = []
            add_findings(s, batch)
            mark_checkpoint_done(s, tenant_id, scope, mailbox_id, folder_key, messages_seen=out["seen"],
                                 last_received=latest)
            s.commit()
    except (NotFound, Forbidden, ConsentMissing, OnPremUnavailable) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        with store.session() as s:
            mark_checkpoint_failed(s, tenant_id, scope, mailbox_id, folder_key, reason)
            s.commit()
        out.update(status="failed", error=reason[:300])
    out["categories"], out["actions"] = dict(cats), dict(acts)
    return out


@task(name="scan-mailbox", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def scan_mailbox(tenant: str, tenant_id: str, scope: str, since: datetime, context: DetectionContext | None,
                 mailbox_id: str, folders: list[str] | None, policy: ScanPolicy, flow_run_id: str | None,
                 page_size: int = 250, where: Where = None, client: GraphClient | None = None,
                 block: M365Tenant | None = None) -> dict[str, Any]:
    """Scan one mailbox of a scan (retried on transient Graph failures); ``where``: its side (EWS if on-premises).

    ``tenant`` is the block name (``tenant_id`` checks it): on Dask workers the task loads the block
    and builds its client here, so no secret travels; on threads the flow passes its own ``block``
    and ``client``. Pass ``context`` wrapped in ``quote`` on threads (Prefect then does not walk it).
    """
    block = task_tenant(tenant, tenant_id, block)
    client = client or graph_client_for(block)  # None on Dask workers: this process's own client
    result = scan_one_mailbox(client, store_for(block), tenant_id=block.tenant_id, scope=scope,
                              mailbox_id=mailbox_id, since=since, folders=folders, policy=policy,
                              context=context, flow_run_id=flow_run_id, page_size=page_size,
                              access=mailbox_access(block, client, mailbox_id, where))
    result["side"] = side_of(where)
    log = get_run_logger()
    if result["status"] == "failed":
        log.warning("mailbox %s not scanned: %s", mailbox_id, result["error"])
    elif result["skipped"]:
        log.info("mailbox %s already scanned in this scope: skipped", mailbox_id)
    else:
        log.info("mailbox %s: %d messages, %s", mailbox_id, result["seen"], result["categories"])
    return result


def record_failure(block: M365Tenant, scope: str, mailbox_id: str, folders: list[str] | None, error: str) -> None:
    """Checkpoint a mailbox whose task failed for good (retries exhausted)."""
    with store_for(block).session() as s:
        mark_checkpoint_failed(s, block.tenant_id, scope, mailbox_id, _folder_key(folders), error)
        s.commit()
