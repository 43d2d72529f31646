"""Benchmark: time from delivery to quarantine with 100 mailboxes receiving mail at once.

The sandbox tenant runs in its own process (as Graph would: its CPU does not compete with ours
under the GIL) and sends change notifications like Graph. This process runs what production
runs: the receiver beside the consent callback (screens each notification and queues it in the
store before answering 202) and a drainer that processes the queue continuously the way
``process-notifications`` does (:func:`mailwarden.protection.drain_once`: fetch, claim once,
classify, quarantine through the audited action), without Prefect's per-task bookkeeping.

Each round delivers, at the same moment, one phishing and one benign message into every
mailbox (through the sandbox's control endpoint, as the demo does). Latency of a phishing
message = the audit row's completion time minus the moment its delivery request was sent.
Prints figures, then one JSON line.

    .venv/bin/python bench/protection_latency.py             # 100 mailboxes x 3 rounds
    .venv/bin/python bench/protection_latency.py --quick     # 20 mailboxes x 1 round
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import secrets
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLIENT_ID = "2f4e8a10-3c5d-4e6f-8a9b-0c1d2e3f4a5c"


def _serve(conn: Connection, secret: str, state_dir: str, users: int) -> None:
    """Child process: one generated tenant served over TLS until told to stop."""
    from m365sandbox import Sandbox, SandboxServer
    from m365sandbox.generator import generate_tenant

    sb = Sandbox(profile="fast")
    sb.register_app(CLIENT_ID, secret=secret)
    t = sb.add_tenant(generate_tenant(seed=77, users=users, messages_per_mailbox=3))
    sb.grant_consent(t.id, CLIENT_ID, "basic")
    mailboxes = sorted((uid, t.users[uid]["userPrincipalName"]) for uid in t.mailboxes
                       if t.users[uid].get("accountEnabled", True) and t.users[uid].get("userType") != "Guest")
    with SandboxServer(sb, state_dir=state_dir) as srv:
        conn.send({"url": srv.url, "ca_file": srv.ca_file, "tenant": t.id, "domain": t.domain,
                   "mailboxes": mailboxes})
        conn.recv()


class NoRuns:
    async def state_of(self, flow_run_id: str) -> str | None:
        return None

    async def resume(self, flow_run_id: str, run_input: dict[str, Any]) -> None:
        return None


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8, help="mailboxes processed at once")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.mailboxes, args.rounds = 20, 1

    import httpx
    from m365sandbox.samples import benign_message, phishing_message
    from pydantic import SecretStr
    from sqlalchemy import func, select

    from deployments.callback import CallbackServer, create_app
    from mailwarden.detection import DetectionContext
    from mailwarden.graph import ClientSecretCredential, build_graph_client, endpoints_for
    from mailwarden.protection import ProtectionPolicy, drain_once, plan_subscriptions, sync_subscriptions
    from mailwarden.protection.drain import TenantProtection
    from mailwarden.store import open_store
    from mailwarden.store.models import RemediationAction

    secret = secrets.token_urlsafe(24)
    tmp = Path(tempfile.mkdtemp(prefix="mw-protect-bench-"))
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=_serve, args=(child, secret, str(tmp), args.mailboxes + 60))
    proc.start()
    info = parent.recv()
    store = open_store(f"sqlite:///{tmp / 'store.sqlite'}")
    store.migrate()
    endpoints = endpoints_for("global", login_url=info["url"], graph_url=info["url"], exchange_url=info["url"])
    client = build_graph_client(info["tenant"], ClientSecretCredential(CLIENT_ID, SecretStr(secret)), endpoints,
                                ca_file=info["ca_file"])
    mailboxes = info["mailboxes"][: args.mailboxes]
    if len(mailboxes) < args.mailboxes:
        raise SystemExit(f"the tenant has only {len(mailboxes)} mailboxes")
    stop = threading.Event()
    try:
        with CallbackServer(create_app(store, runs=NoRuns())) as receiver:
            protection = TenantProtection(tenant_id=info["tenant"], client=client, store=store,
                                          policy=ProtectionPolicy(),
                                          context=DetectionContext(tenant_domains=frozenset({info["domain"]})),
                                          notification_url=receiver.url + "/notifications",
                                          lifecycle_url=receiver.url + "/lifecycle")
            started = time.perf_counter()
            with store.session() as s:
                plan = plan_subscriptions([m for m, _ in mailboxes], [], now=datetime.now(UTC))
                sync = sync_subscriptions(client, s, tenant_id=info["tenant"], plan=plan, records=[],
                                          notification_url=protection.notification_url or "",
                                          lifecycle_url=protection.lifecycle_url, now=datetime.now(UTC),
                                          before_create=lambda mb: protection.sweep(mb))
            subscribe_s = time.perf_counter() - started
            if sync.errors:
                raise SystemExit(f"subscriptions failed: {sync.errors}")
            print(f"subscribed {len(sync.created)} mailboxes in {subscribe_s:.1f} s (baseline + handshake each)")

            def drainer() -> None:
                while not stop.is_set():
                    got = drain_once(store, lambda t: protection, tenant_id=info["tenant"], workers=args.workers)
                    if not got.claimed:
                        stop.wait(0.01)

            worker = threading.Thread(target=drainer, name="drainer", daemon=True)
            worker.start()
            sent: dict[str, float] = {}
            lock = threading.Lock()
            ctl = httpx.Client(verify=info["ca_file"], trust_env=False, timeout=30,
                               limits=httpx.Limits(max_connections=64))

            def deliver(item: tuple[str, str, int, threading.Barrier]) -> None:
                uid, upn, n, barrier = item
                phish, fine = phishing_message(upn, n), benign_message(upn, n)
                barrier.wait()
                for msg in (phish, fine):
                    at = time.time()
                    r = ctl.post(f"{info['url']}/_sandbox/tenants/{info['tenant']}/mailboxes/{uid}/messages",
                                 json={"message": msg})
                    r.raise_for_status()
                    if msg is phish:
                        with lock:
                            sent[phish["internetMessageId"]] = at

            for rnd in range(args.rounds):
                barrier = threading.Barrier(len(mailboxes))
                with ThreadPoolExecutor(max_workers=len(mailboxes)) as pool:
                    list(pool.map(deliver, [(uid, upn, rnd, barrier) for uid, upn in mailboxes]))
                expected = len(mailboxes) * (rnd + 1)
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    with store.session() as s:
                        done = s.scalar(select(func.count()).select_from(RemediationAction)
                                        .where(RemediationAction.state == "done"))
                    if (done or 0) >= expected:
                        break
                    time.sleep(0.05)
                print(f"round {rnd + 1}: {len(mailboxes)} mailboxes x 2 messages delivered, "
                      f"{done} quarantined so far")
            ctl.close()
            with store.session() as s:
                rows = list(s.scalars(select(RemediationAction).where(RemediationAction.action == "quarantine")))
            latencies = [r.completed_at.timestamp() - sent[r.target] for r in rows
                         if r.completed_at is not None and r.target in sent and r.result == "done"]
            acted_benign = sum(1 for r in rows if r.target not in sent)
    finally:
        stop.set()
        client.close()
        parent.send("stop")
        proc.join(timeout=30)
    figures = {
        "mailboxes": len(mailboxes), "rounds": args.rounds, "phishing_sent": len(sent),
        "quarantined": len(latencies), "benign_acted_on": acted_benign,
        "median_s": round(statistics.median(latencies), 3) if latencies else None,
        "p95_s": round(_pct(latencies, 0.95), 3) if latencies else None,
        "max_s": round(max(latencies), 3) if latencies else None,
        "subscribe_s": round(subscribe_s, 2), "workers": args.workers,
    }
    print(f"delivery -> quarantine over {len(latencies)} phishing messages: median {figures['median_s']} s, "
          f"p95 {figures['p95_s']} s, max {figures['max_s']} s (target: under 5 s)")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
