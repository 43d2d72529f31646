"""Benchmark: does a flood of forged notifications delay or drop genuine ones? And what does a forged request cost?

Set up as ``bench/protection_latency.py`` does (and with its helpers): the sandbox tenant in its
own process sends Graph's change notifications; this process runs the receiver beside the consent
callback and a drainer that quarantines what the notifications point at. A steady trickle of
phishing messages is delivered (one every ``--interval`` seconds, round-robin over the subscribed
mailboxes) during three phases of ``--seconds`` each:

1. ``baseline``: no other traffic;
2. ``flood_one_address``: another process posts forged notifications at full speed from one
   address (127.0.0.2): real subscription ids, guessed ``clientState``;
3. ``flood_many_addresses``: the same, each connection from another loopback address
   (127.0.0.10-127.0.0.249), so no per-address budget ever runs out.

Per phase: genuine delivery -> queued and delivery -> quarantined (median, p95, max), how many
were lost, the forged requests refused per second (by status) and the CPU this process spent.
Then the peak traced memory while a 40 MiB body is posted, and the time to refuse one forged
1,000-item request. Loopback (127.0.0.x) only; bounded in time. Prints figures, then one JSON line.

    .venv/bin/python bench/receiver_flood.py              # 20 mailboxes, 3 x 10 s phases
    .venv/bin/python bench/receiver_flood.py --quick      # 10 mailboxes, 3 x 3 s phases
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import secrets
import socket
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.protection_latency import CLIENT_ID, NoRuns, _pct, _serve  # noqa: E402

MiB = 1024 * 1024
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def _forged_body(subscriptions: list[str], tenant: str, items: int) -> bytes:
    value = [{"subscriptionId": subscriptions[i % len(subscriptions)], "clientState": secrets.token_urlsafe(32),
              "tenantId": tenant, "changeType": "created", "resource": f"Users/x/Messages/m{i}",
              "resourceData": {"id": f"m{i}"}} for i in range(items)]
    return json.dumps({"value": value}).encode()


def _exchange(sock: socket.socket, request: bytes) -> tuple[int, bool]:
    """One request on a kept-alive connection: its status, and whether the server closes."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
    fields = {k.strip().lower(): v.strip().lower() for k, v in fields.items()}
    length = int(fields.get(b"content-length", b"0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(head.split(b" ", 2)[1]), fields.get(b"connection") == b"close"


def _flood(conn: Connection, url: str, sources: list[str], seconds: float, threads: int, body: bytes) -> None:
    """Child process: post ``body`` at full speed on ``threads`` raw keep-alive connections for
    ``seconds`` (raw sockets: an HTTP client library would be the bottleneck, not the receiver)."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    request = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    seen: Counter[int] = Counter()
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        local: Counter[int] = Counter()
        k = n
        while time.monotonic() < stop:  # a new connection (and source) every 100 requests
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(10)
            try:
                sock.bind((sources[k % len(sources)], 0))
                sock.connect((host, int(port)))
                for _ in range(100):
                    status, closing = _exchange(sock, request)
                    local[status] += 1
                    if closing or time.monotonic() >= stop:
                        break
            except OSError:
                local[0] += 1
            finally:
                sock.close()
            k += threads
        with lock:
            seen.update(local)

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    conn.send({"statuses": dict(seen), "seconds": time.monotonic() - started})


def _summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median_s": None, "p95_s": None, "max_s": None}
    return {"median_s": round(statistics.median(values), 3), "p95_s": round(_pct(values, 0.95), 3),
            "max_s": round(max(values), 3)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between genuine deliveries")
    parser.add_argument("--flood-threads", type=int, default=4, help="connections of the flooding process")
    parser.add_argument("--flood-items", type=int, default=20, help="forged items per flood request")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.mailboxes, args.seconds = 10, 3.0

    import httpx
    from m365sandbox.samples import phishing_message
    from pydantic import SecretStr
    from sqlalchemy import select

    from deployments.callback import CallbackServer, create_app
    from mailwarden.detection import DetectionContext
    from mailwarden.graph import ClientSecretCredential, build_graph_client, endpoints_for
    from mailwarden.protection import ProtectionPolicy, drain_once, plan_subscriptions, sync_subscriptions
    from mailwarden.protection.drain import TenantProtection
    from mailwarden.store import open_store
    from mailwarden.store.models import ProtectionNotification, RemediationAction, Subscription

    secret = secrets.token_urlsafe(24)
    tmp = Path(tempfile.mkdtemp(prefix="mw-flood-bench-"))
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(child, secret, str(tmp), args.mailboxes + 60))
    proc.start()
    info = parent.recv()
    store = open_store(f"sqlite:///{tmp / 'store.sqlite'}")
    store.migrate()
    endpoints = endpoints_for("global", login_url=info["url"], graph_url=info["url"], exchange_url=info["url"])
    client = build_graph_client(info["tenant"], ClientSecretCredential(CLIENT_ID, SecretStr(secret)), endpoints,
                                ca_file=info["ca_file"])
    mailboxes = info["mailboxes"][: args.mailboxes]
    stop = threading.Event()
    phases: dict[str, dict[str, Any]] = {}
    try:
        with CallbackServer(create_app(store, runs=NoRuns())) as receiver:
            url = receiver.url + "/notifications"
            protection = TenantProtection(tenant_id=info["tenant"], client=client, store=store,
                                          policy=ProtectionPolicy(),
                                          context=DetectionContext(tenant_domains=frozenset({info["domain"]})),
                                          notification_url=url, lifecycle_url=receiver.url + "/lifecycle")
            with store.session() as s:
                plan = plan_subscriptions([m for m, _ in mailboxes], [], now=datetime.now(UTC))
                sync = sync_subscriptions(client, s, tenant_id=info["tenant"], plan=plan, records=[],
                                          notification_url=url, lifecycle_url=protection.lifecycle_url,
                                          now=datetime.now(UTC), before_create=lambda mb: protection.sweep(mb))
            if sync.errors:
                raise SystemExit(f"subscriptions failed: {sync.errors}")
            with store.session() as s:
                subscription_ids = [str(x) for x in s.scalars(select(Subscription.subscription_id))]
            print(f"subscribed {len(subscription_ids)} mailboxes")

            def drainer() -> None:
                while not stop.is_set():
                    if not drain_once(store, lambda t: protection, tenant_id=info["tenant"], workers=8).claimed:
                        stop.wait(0.01)

            threading.Thread(target=drainer, name="drainer", daemon=True).start()
            ctl = httpx.Client(verify=info["ca_file"], trust_env=False, timeout=30)
            body = _forged_body(subscription_ids, info["tenant"], args.flood_items)
            many = [f"127.0.0.{n}" for n in range(10, 250)]
            for name, sources in (("baseline", None), ("flood_one_address", ["127.0.0.2"]),
                                  ("flood_many_addresses", many)):
                flood = None
                if sources is not None:
                    fparent, fchild = ctx.Pipe()
                    flood = ctx.Process(target=_flood, args=(fchild, url, sources, args.seconds + 1.0,
                                                             args.flood_threads, body))
                    flood.start()
                    time.sleep(1.0)  # the flood is at full speed before the first genuine delivery
                cpu = time.process_time()
                sent: dict[str, tuple[str, float]] = {}  # internetMessageId -> (message id, sent at)
                deadline = time.monotonic() + args.seconds
                n = 0
                while time.monotonic() < deadline:
                    uid, upn = mailboxes[n % len(mailboxes)]
                    msg = phishing_message(upn, 10_000 * len(phases) + n)
                    at = time.time()
                    r = ctl.post(f"{info['url']}/_sandbox/tenants/{info['tenant']}/mailboxes/{uid}/messages",
                                 json={"message": msg})
                    r.raise_for_status()
                    sent[msg["internetMessageId"]] = (str(r.json()["id"]), at)
                    n += 1
                    time.sleep(max(0.0, args.interval - (time.time() - at)))
                flood_stats: dict[str, Any] = {}
                if flood is not None:
                    flood_stats = fparent.recv()
                    flood.join(timeout=30)
                settle = time.monotonic() + 30
                while time.monotonic() < settle:
                    with store.session() as s:
                        done = {str(t) for t in s.scalars(select(RemediationAction.target)
                                                          .where(RemediationAction.result == "done"))}
                    if all(k in done for k in sent):
                        break
                    time.sleep(0.05)
                cpu = time.process_time() - cpu
                with store.session() as s:
                    actions = {str(a.target): a for a in s.scalars(select(RemediationAction))}
                    queued = {str(q.message_id): q for q in s.scalars(select(ProtectionNotification))}
                done_at = {k: a.completed_at.timestamp() for k, a in actions.items() if a.completed_at is not None}
                to_quarantine = [done_at[k] - at for k, (_, at) in sent.items() if k in done_at]
                to_queue = [queued[mid].received_at.timestamp() - at for mid, at in sent.values() if mid in queued]
                statuses = {int(k): int(v) for k, v in flood_stats.get("statuses", {}).items()}
                seconds = float(flood_stats.get("seconds") or 1.0)
                phases[name] = {
                    "genuine_sent": len(sent), "genuine_queued": len(to_queue),
                    "genuine_quarantined": len(to_quarantine),
                    "queue": _summary(to_queue), "quarantine": _summary(to_quarantine),
                    "forged_per_s": {str(k): round(v / seconds) for k, v in sorted(statuses.items())},
                    "forged_refused_per_s": round(sum(v for k, v in statuses.items() if k in (403, 429)) / seconds),
                    "forged_accepted": statuses.get(202, 0), "cpu_s": round(cpu, 2),
                }
                p = phases[name]
                print(f"{name}: {p['genuine_quarantined']}/{p['genuine_sent']} genuine phishing quarantined; "
                      f"delivery->queue median {p['queue']['median_s']} s p95 {p['queue']['p95_s']} s; "
                      f"delivery->quarantine median {p['quarantine']['median_s']} s "
                      f"p95 {p['quarantine']['p95_s']} s max {p['quarantine']['max_s']} s; "
                      f"forged refused {p['forged_refused_per_s']}/s {p['forged_per_s']}; cpu {p['cpu_s']} s")
            ctl.close()

            chunk = b" " * 65536
            tracemalloc.start()
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            with httpx.Client(timeout=60, transport=httpx.HTTPTransport(local_address="127.0.0.3")) as c:
                big = c.post(url, content=(chunk for _ in range(40 * MiB // len(chunk))))
            peak = (tracemalloc.get_traced_memory()[1] - base) / MiB
            tracemalloc.stop()
            print(f"40 MiB body: {big.status_code}, peak traced memory {peak:.2f} MiB")

            big_forged = _forged_body(subscription_ids, info["tenant"], 1000)
            costs = []
            for k in range(5):  # each from a fresh address: no budget in the way, the full refusal path
                with httpx.Client(transport=httpx.HTTPTransport(local_address=f"127.0.1.{k + 1}",
                                                                socket_options=NODELAY)) as c:
                    started = time.perf_counter()
                    code = c.post(url, content=big_forged, headers={"Content-Type": "application/json"}).status_code
                    costs.append(time.perf_counter() - started)
                    assert code == 403, code
            print(f"one forged request of 1000 items ({len(big_forged) / 1024:.0f} KiB): refused in "
                  f"{statistics.median(costs) * 1000:.1f} ms (median of 5)")
    finally:
        stop.set()
        client.close()
        parent.send("stop")
        proc.join(timeout=30)

    figures: dict[str, Any] = {"mailboxes": len(mailboxes), "phase_s": args.seconds}
    for name, p in phases.items():
        short = {"baseline": "base", "flood_one_address": "flood1", "flood_many_addresses": "floodN"}[name]
        figures[f"{short}_lost"] = p["genuine_sent"] - p["genuine_quarantined"]
        figures[f"{short}_quarantine_median_s"] = p["quarantine"]["median_s"]
        figures[f"{short}_quarantine_p95_s"] = p["quarantine"]["p95_s"]
        figures[f"{short}_queue_p95_s"] = p["queue"]["p95_s"]
        if name != "baseline":
            figures[f"{short}_forged_refused_per_s"] = p["forged_refused_per_s"]
            figures[f"{short}_forged_accepted"] = p["forged_accepted"]
    figures["body_40mib_status"] = big.status_code
    figures["body_40mib_peak_mib"] = round(peak, 2)
    figures["forged_1000_items_ms"] = round(statistics.median(costs) * 1000, 1)
    figures["phases"] = phases
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
