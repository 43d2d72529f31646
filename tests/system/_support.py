"""Helpers of the whole-system suite: sandbox ground truth, store dumps, requests seen by the sandbox.

Everything here reads the sandbox's own state (never the product's view of it) or the store as
rows, so the suite can compare the two.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from mailwarden.scan import ScanPolicy

REPO = Path(__file__).resolve().parents[2]
SINCE = datetime(2000, 1, 1, tzinfo=UTC)
QUARANTINE = "mailwarden Quarantine"
QUARANTINE_POLICY = ScanPolicy(actions={"malicious": "quarantine"})


# --- the sandbox's side -------------------------------------------------------------------------


def folder_name(mb: Any, folder_id: str) -> str:
    return str(mb.folders[folder_id].get("displayName", ""))


def visible_counts(state: Any, mailboxes: list[str]) -> dict[str, int]:
    """Messages per mailbox in every visible folder (what a mailbox-wide scan must read)."""
    with state.lock:
        return {mb: len(state.mailboxes[mb].ids_in(None)) for mb in mailboxes}


def imids(state: Any, mailboxes: list[str] | None = None) -> dict[str, Counter[str]]:
    """Internet message ids per mailbox, with multiplicity, in any folder (dumpster included)."""
    with state.lock:
        return {mb: Counter(str(it.get("internetMessageId")) for it in state.mailboxes[mb].items.values())
                for mb in (mailboxes if mailboxes is not None else list(state.mailboxes))}


def quarantined(state: Any) -> dict[str, Counter[str]]:
    """Internet message ids in each mailbox's quarantine folder, with multiplicity."""
    out: dict[str, Counter[str]] = {}
    with state.lock:
        for mb_id, mb in state.mailboxes.items():
            got = Counter(str(it.get("internetMessageId")) for it in mb.items.values()
                          if folder_name(mb, it.folder) == QUARANTINE)
            if got:
                out[mb_id] = got
    return out


def sandbox_snapshot(state: Any) -> dict[str, Any]:
    """Everything a remediation can change in a tenant: where each message is, rules, forwarding,
    accounts, sessions and password resets."""
    with state.lock:
        return {
            "messages": {mb_id: sorted((it.id, it.folder) for it in mb.items.values())
                         for mb_id, mb in state.mailboxes.items()},
            "rules": {mb_id: sorted(json.dumps(r, sort_keys=True, default=str) for r in mb.rules.values())
                      for mb_id, mb in state.mailboxes.items()},
            "forwarding": {uid: (r.get("ForwardingSmtpAddress"), r.get("ForwardingAddress"))
                           for uid, r in state.recipients.items()},
            "accounts": {uid: (u.get("accountEnabled"), u.get("signInSessionsValidFromDateTime"))
                         for uid, u in state.users.items()},
            "passwords": len(state.password_changes),
        }


class RequestLog:
    """Counts the Graph/Exchange requests the sandbox receives, per tenant (wraps its fault hook,
    which the sandbox calls once per API request after checking the token)."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def watching(self) -> Iterator[RequestLog]:
        faults = self.sandbox.faults
        original = faults.on_request

        def counting(tenant_id: str, mailbox_id: str | None, path: str = "") -> Any:
            with self._lock:
                self.counts[tenant_id] += 1
            return original(tenant_id, mailbox_id, path)

        faults.on_request = counting
        try:
            yield self
        finally:
            faults.on_request = original


# --- the store's side ---------------------------------------------------------------------------


def store() -> Any:
    from tasks.common import store_for

    return store_for(None)


def audit_rows(tenant_id: str | None = None) -> list[Any]:
    """The audit log (all tenants, or one) as detached rows."""
    from sqlalchemy import select

    from mailwarden.store.models import RemediationAction

    with store().session() as s:
        stmt = select(RemediationAction).order_by(RemediationAction.id)
        if tenant_id is not None:
            stmt = stmt.where(RemediationAction.tenant_id == tenant_id)
        rows = list(s.scalars(stmt))
        s.expunge_all()
    return rows


def audit_view(tenant_id: str) -> list[tuple[Any, ...]]:
    """What a re-run must not change: every audit row's key, state, result and details."""
    return [(r.idempotency_key, r.state, r.result, json.dumps(r.details, sort_keys=True, default=str))
            for r in audit_rows(tenant_id)]


def checkpoints(tenant_id: str, scope: str) -> dict[str, tuple[str, int]]:
    from mailwarden.store.repositories import list_checkpoints

    with store().session() as s:
        return {c.mailbox_id: (c.state, c.messages_seen) for c in list_checkpoints(s, scope)
                if c.tenant_id == tenant_id}


def all_text_in_store() -> Iterator[tuple[str, str, str]]:
    """(table, column, value) for every non-empty value of every table, JSON and numbers as text."""
    from sqlalchemy import MetaData, select

    engine = store().engine
    meta = MetaData()
    meta.reflect(bind=engine)
    with engine.connect() as con:
        for table in meta.sorted_tables:
            for row in con.execute(select(table)):
                for col, value in zip(table.columns.keys(), row, strict=True):
                    if value is None:
                        continue
                    text = value.decode("latin-1") if isinstance(value, bytes) else \
                        value if isinstance(value, str) else json.dumps(value, default=str)
                    yield table.name, col, text


def rows_naming(tenant_id: str) -> dict[str, list[str]]:
    """Per table with a ``tenant_id`` column: the text of every row of that tenant."""
    from sqlalchemy import MetaData, select

    engine = store().engine
    meta = MetaData()
    meta.reflect(bind=engine)
    out: dict[str, list[str]] = {}
    with engine.connect() as con:
        for table in meta.sorted_tables:
            if "tenant_id" not in table.columns:
                continue
            rows = con.execute(select(table).where(table.c.tenant_id == tenant_id)).mappings()
            out[table.name] = [json.dumps(dict(r), default=str) for r in rows]
    return out


# --- Prefect's side -----------------------------------------------------------------------------


def run_id(state: Any) -> str:
    return str(state.state_details.flow_run_id)


def artifacts_of(flow_run_ids: list[str]) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        return list(client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[uuid.UUID(i) for i in flow_run_ids]))))


def logs_of(flow_run_ids: list[str]) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    out: list[str] = []
    with get_client(sync_client=True) as client:
        while True:
            flt = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[uuid.UUID(i) for i in flow_run_ids]))
            page = client.read_logs(log_filter=flt, limit=200, offset=len(out))
            out += [entry.message for entry in page]
            if len(page) < 200:
                return out


def in_thread(fn: Callable[..., Any], **params: Any) -> tuple[threading.Thread, dict[str, Any]]:
    """Run a flow on a thread with ``return_state=True``; its state lands in the dict."""
    box: dict[str, Any] = {}

    def go() -> None:
        box["state"] = fn(return_state=True, **params)

    th = threading.Thread(target=go, daemon=True)
    th.start()
    return th, box


class Chaos:
    """Bursts of faults thrown at one tenant while flows run, on a background thread.

    The next burst comes once the last one is used up and ``gap`` requests went through cleanly,
    so every burst lands on live traffic (mid-page, mid-move, mid-step) while no single request
    meets more faults in a row than the client's retry budget. ``applied`` counts the bursts used.
    """

    BURSTS: tuple[tuple[str, dict[str, Any]], ...] = (
        ("429", {"count": 4, "retry_after": 0}),
        ("503", {"count": 2, "retry_after": 0}),
        ("reset", {"count": 2}),
        ("expire_tokens", {}),
        ("429", {"count": 3, "retry_after": 0}),
        ("reset", {"count": 1}),
    )

    def __init__(self, sandbox: Any, tenant_id: str, gap: int = 3) -> None:
        self.sandbox, self.tenant_id, self.gap = sandbox, tenant_id, gap
        self.applied: Counter[str] = Counter()
        self._stop = threading.Event()
        self._log = RequestLog(sandbox)
        self._thread = threading.Thread(target=self._run, name="chaos", daemon=True)

    def _wait(self, done: Callable[[], bool]) -> bool:
        while not done():
            if self._stop.wait(0.01):
                return False
        return True

    def _run(self) -> None:
        faults = self.sandbox.faults
        i = 0
        while not self._stop.is_set():
            kind, kw = self.BURSTS[i % len(self.BURSTS)]
            i += 1
            fault = faults.inject(kind, tenant=self.tenant_id, **kw)
            if not self._wait(partial(self._used_up, fault.id if fault is not None else None)):
                return
            self.applied[kind] += 1
            if not self._wait(partial(self._clean_requests, self._log.counts[self.tenant_id] + self.gap)):
                return

    def _used_up(self, fault_id: int | None) -> bool:
        return all(x.id != fault_id for x in self.sandbox.faults.list())

    def _clean_requests(self, target: int) -> bool:
        return self._log.counts[self.tenant_id] >= target

    def __enter__(self) -> Chaos:
        self._cm = self._log.watching()
        self._cm.__enter__()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._cm.__exit__(None, None, None)
        for fault in self.sandbox.faults.list():
            if fault.tenant == self.tenant_id:
                self.sandbox.faults.clear(fault.id)


# --- onboarding as a browser would do it --------------------------------------------------------


def onboard_params(domain: str, blocks: dict[str, str], embedded: Any, *, tier: str = "basic",
                   notify_target: str | None = None) -> dict[str, Any]:
    """Parameters of ``onboard-tenant`` for a sandbox tenant, with fast consent polling.

    No hosts among them: the ``embedded`` fixture makes the sandbox this process's configured one.
    """
    from flows.onboarding import AppSources, ReadinessOptions

    return {"tenant": domain, "cloud": "global", "tier": tier, "notify_target": notify_target,
            "consent_timeout_minutes": 2,
            "readiness": ReadinessOptions(limit_seconds=30, initial_delay=0.5, max_delay=2),
            "apps": AppSources(basic_app_block=blocks["basic"], advanced_app_block=blocks["advanced"],
                               first_sync_deployment=None, consent_poll_seconds=1)}


def consent_url(domain: str, tier: str, thread: threading.Thread, seen: set[str] | None = None,
                timeout: float = 60.0) -> str:
    """The consent link the onboarding run publishes as its artifact (waits for a new one)."""
    import re
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from tasks.onboarding import consent_artifact_key

    seen = seen if seen is not None else set()
    key = consent_artifact_key(domain, tier)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and thread.is_alive():
        with get_client(sync_client=True) as client:
            found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
        fresh = [a for a in found if str(a.id) not in seen]
        if fresh:
            seen.add(str(fresh[0].id))
            match = re.search(r"\((https://[^)\s]+)\)", str(fresh[0].data))
            assert match, fresh[0].data
            return match.group(1)
        time.sleep(0.2)  # polling the server for the run's artifact
    raise AssertionError(f"no consent link {key} appeared")


def admin_consents(url: str, ca_file: str) -> str:
    """Open the consent link as the tenant's admin and consent; the callback URL Azure AD redirects to."""
    import ssl

    import httpx

    ctx = ssl.create_default_context(cafile=ca_file)
    with httpx.Client(verify=ctx, trust_env=False, timeout=60) as client:
        reply = client.get(url)
    assert reply.status_code == 302, reply.text
    return str(reply.headers["location"])


def call_back(url: str) -> Any:
    """The admin's browser arriving at the consent callback."""
    import httpx

    with httpx.Client(trust_env=False, timeout=60) as client:
        return client.get(url)
