"""Scale-out: historic-scan and rules-audit on a Dask cluster give the thread pool's results.

Everything runs on PostgreSQL: a Prefect server on its own database, and one mailwarden store
database per runner (so each run starts fresh under the same scan key). The Dask runs use worker
processes: a ``LocalCluster`` the flow starts (``dask_workers``) for the scan, and an existing
cluster for the audit, named only by the server's settings (``MAILWARDEN_DASK_ADDRESS``) and reached
with mutual TLS (certificates made here). Workers get the store URL and the sandbox settings from
their environment, the Prefect API from the flow's settings, and load the tenant block by name.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
POSTGRES_ENV = "MAILWARDEN_TEST_POSTGRES_URL"
SINCE = datetime(2000, 1, 1, tzinfo=UTC)
RUNNERS = ("threads", "dask")


@pytest.fixture(scope="module")
def pg_database() -> Iterator[Callable[[str], URL]]:
    """``make(name)``: a fresh database on the test PostgreSQL server, dropped after the module."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"CI=true but {POSTGRES_ENV} is not set: run scripts/with-postgres.sh")
        pytest.skip(f"{POSTGRES_ENV} is not set (scripts/with-postgres.sh starts a server)")
    base = make_url(url).set(drivername="postgresql+psycopg")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make(name: str) -> URL:
        db = f"mw_{name}_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{db}"'))
        made.append(db)
        return base.set(database=db)

    yield make
    with admin.connect() as conn:
        for db in made:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def prefect_on_postgres(prefect_server: Callable[..., Any], pg_database: Callable[[str], URL]) -> Iterator[URL]:
    """A Prefect server whose database is PostgreSQL (asyncpg), for this module only; yields that database."""
    url = pg_database("prefect")
    with prefect_server(url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)):
        yield url


@pytest.fixture(scope="module")
def runs(prefect_on_postgres: URL, pg_database: Callable[[str], URL], embedded: Any,
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same tenant scanned and audited once per runner, each on its own fresh store."""
    from flows.historic_scan import historic_scan
    from flows.reconciliation import reconcile_licenses
    from flows.rules_audit import rules_audit
    from mailwarden.settings import get_settings
    from mailwarden.store.repositories import list_checkpoints, list_findings, list_rules
    from tasks.common import _clients, store_for
    from tests.scaleout._tls import Pki, mutual_tls_cluster

    block, state = embedded.add_tenant(seed=4242, users=14, messages_per_mailbox=8, phishing_rate=0.2)
    block.save(block.block_name, overwrite=True)
    domain = block.primary_domain
    out: dict[str, Any] = {"block": block, "state": state, "prefect_db": prefect_on_postgres}
    with pytest.MonkeyPatch.context() as mp:
        for kind in RUNNERS:
            store_url = pg_database(f"store_{kind}").render_as_string(hide_password=False)
            mp.setenv("MAILWARDEN_STORE_URL", store_url)  # inherited by the Dask worker processes
            get_settings.cache_clear()
            assert store_for(block).dialect == "postgresql"
            reconcile_licenses(tenant=domain)
            scan = historic_scan(tenant=domain, since=SINCE, concurrency=4, retry_delay_seconds=0, task_runner=kind,
                                 dask_workers=2, return_state=True)
            if kind == "dask":
                pki = Pki(tmp_path_factory.mktemp("dask-pki"))
                cert, key = pki.issue("mailwarden-flow")
                with mutual_tls_cluster(pki, n_workers=2, threads_per_worker=2) as cluster:
                    for name, value in (("ADDRESS", cluster.scheduler_address), ("TLS_CA_FILE", pki.ca_file),
                                        ("TLS_CERT_FILE", cert), ("TLS_KEY_FILE", key)):
                        mp.setenv(f"MAILWARDEN_DASK_{name}", str(value))
                    get_settings.cache_clear()
                    audit = rules_audit(tenant=domain, concurrency=4, task_runner=kind, return_state=True)
                for name in ("ADDRESS", "TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE"):
                    mp.delenv(f"MAILWARDEN_DASK_{name}")
                get_settings.cache_clear()
            else:
                audit = rules_audit(tenant=domain, concurrency=4, return_state=True)
            with store_for(block).session() as s:
                scope = scan.result()["scope"]
                findings = sorted((f.mailbox_id, f.message_id, f.category, round(f.score, 6))
                                  for f in list_findings(s, scan_id=scope))
                checkpoints = sorted((c.mailbox_id, c.state, c.messages_seen) for c in list_checkpoints(s, scope))
                rules = sorted((r.mailbox_id, r.rule_key, r.fingerprint, r.risk_level, r.hidden)
                               for r in list_rules(s, block.tenant_id))
            out[kind] = {"scan": scan, "audit": audit, "findings": findings, "checkpoints": checkpoints,
                         "rules": rules, "in_process_clients": [k for k in _clients if k[0] == block.tenant_id]}
        get_settings.cache_clear()
    return out


def _run_id(state: Any) -> uuid.UUID:
    return uuid.UUID(str(state.state_details.flow_run_id))


def test_scan_on_dask_workers_matches_the_thread_pool(runs: dict[str, Any]) -> None:
    threads, dask = (runs[k]["scan"].result() for k in RUNNERS)
    assert threads["scope"] == dask["scope"] and not threads["failed"] and not dask["failed"]
    rows = {k: [(r["mailbox"], r["status"], r["seen"], r["skipped"], r["categories"]) for r in out["rows"]]
            for k, out in zip(RUNNERS, (threads, dask), strict=True)}
    assert rows["threads"] == rows["dask"]
    assert len(rows["dask"]) >= 10 and not any(r[3] for r in rows["dask"])  # all scanned, none resumed
    assert threads["categories"] == dask["categories"] and dask["categories"].get("malicious", 0) > 0
    assert runs["threads"]["findings"] == runs["dask"]["findings"] and runs["dask"]["findings"]
    assert runs["threads"]["checkpoints"] == runs["dask"]["checkpoints"]
    # the Dask tasks built their clients in the worker processes, never in this one
    assert runs["dask"]["in_process_clients"] == []


def test_dask_scan_task_runs_logs_and_artifacts_reach_the_prefect_server(runs: dict[str, Any]) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterTaskRunId

    from tasks.common import artifact_key

    state = runs["dask"]["scan"]
    flow_run = FlowRunFilter(id=FlowRunFilterId(any_=[_run_id(state)]))
    with get_client(sync_client=True) as client:
        task_runs = [t for t in client.read_task_runs(flow_run_filter=flow_run) if t.name.startswith("scan-mailbox")]
        assert len(task_runs) == len(state.result()["rows"])
        assert all(t.state is not None and t.state.is_completed() for t in task_runs)
        keys = {a.key for a in client.read_artifacts(flow_run_filter=flow_run)}
        assert {artifact_key(k, runs["block"]) for k in ("historic-scan-summary", "historic-scan-mailboxes",
                                                          "historic-scan-progress")} <= keys
        logs = client.read_logs(log_filter=LogFilter(task_run_id=LogFilterTaskRunId(any_=[t.id for t in task_runs])))
    assert any("messages" in log.message for log in logs)  # written by the workers' task runs
    engine = create_engine(runs["prefect_db"])  # and the server keeps them in PostgreSQL
    try:
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM task_run WHERE flow_run_id = :id"),
                                  {"id": _run_id(state)}).scalar_one()
    finally:
        engine.dispose()
    assert stored >= len(task_runs)


def test_rules_audit_on_the_servers_mutual_tls_cluster_matches_the_thread_pool(runs: dict[str, Any]) -> None:
    threads, dask = (runs[k]["audit"].result() for k in RUNNERS)
    key = [(f["mailbox"], f["rule_key"], f["risk"], f["change"], f["hidden"]) for f in threads["suspicious"]]
    assert key and key == [(f["mailbox"], f["rule_key"], f["risk"], f["change"], f["hidden"])
                           for f in dask["suspicious"]]
    assert threads["campaigns"] == dask["campaigns"] and threads["emitted"] == dask["emitted"] > 0
    assert runs["threads"]["rules"] == runs["dask"]["rules"]
    planted = runs["state"].truth.malicious_rules
    flagged = {(f["mailbox"], i) for f in dask["suspicious"] for i in (f["graph_id"], f["exchange_identity"]) if i}
    assert planted <= flagged


def test_events_emitted_on_dask_workers_reach_the_prefect_server(runs: dict[str, Any]) -> None:
    from prefect import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter

    state = runs["dask"]["audit"]
    assert state.result()["emitted"] > 0
    flt = EventFilter(event=EventNameFilter(name=["mailwarden.rule.suspicious"]),
                      related=EventRelatedFilter(id=[f"prefect.flow-run.{_run_id(state)}"]))
    deadline = time.monotonic() + 30  # the server persists events asynchronously
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_events(filter=flt, limit=50)
            if page.total >= state.result()["emitted"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert page.total == state.result()["emitted"]
    assert all(ev.resource.id.startswith(f"mailwarden.tenant.{runs['block'].tenant_id}.") for ev in page.events)
