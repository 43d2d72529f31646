"""Benchmark: the historic scan's per-mailbox concurrent scan vs a sequential loop vs the ideal.

Runs the sandbox in-process in the "latency" profile (a fixed latency per Graph reply, 4
concurrent requests per mailbox), generates N mailboxes x M messages, and scans them with the
same per-mailbox work the flow's tasks do (:func:`tasks.scan.scan_one_mailbox`: page with the
scan ``$select``, classify, store findings) -- once on a thread pool of ``--concurrency``
workers (what the flow's ``ThreadPoolTaskRunner`` does, without Prefect's per-task overhead of
~12 ms per mailbox), once as a plain sequential loop over the same client. The ideal is
``concurrency / latency x page size`` messages/s (one page in flight per mailbox). Peak memory
growth is measured while scanning mailboxes of M and of 10 x M messages (paging is lazy, so it
should not grow with M). Prints figures and a final JSON line.

    .venv/bin/python bench/historic_scan.py                          # 50 x 200
    .venv/bin/python bench/historic_scan.py --mailboxes 200 --messages 500
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr

from mailwarden.detection import DetectionContext
from mailwarden.graph import ClientSecretCredential, RetryPolicy, build_graph_client
from mailwarden.sandbox import Sandbox, SandboxServer
from mailwarden.sandbox.generator import generate_tenant
from mailwarden.sandbox.throttle import PROFILES
from mailwarden.store import Store
from tasks.scan import ScanPolicy, scan_one_mailbox

CLIENT_ID = "0b6c2f0e-7f55-4b6a-9d0c-5a1d2e3f4a5b"
SINCE = datetime(2000, 1, 1, tzinfo=UTC)
PAGE = 4096


def rss() -> int:
    """Resident set size in bytes (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:
        return 0


def measure(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, peak RSS growth in MB), RSS sampled every 20 ms."""
    base, peak, stop = rss(), [rss()], threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], rss())

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    start = time.perf_counter()
    try:
        result = fn()
    finally:
        wall = time.perf_counter() - start
        stop.set()
        t.join()
    return result, wall, (max(peak[0], rss()) - base) / 1e6


def scan_all(client: Any, store: Store, tenant_id: str, domain: str, mailboxes: list[str], scope: str,
             workers: int, page_size: int) -> int:
    """Scan every mailbox (workers=1: a plain loop); returns messages seen."""
    ctx = DetectionContext(tenant_domains=frozenset({domain}))

    def one(mb: str) -> int:
        out = scan_one_mailbox(client, store, tenant_id=tenant_id, scope=scope, mailbox_id=mb, since=SINCE,
                               folders=None, policy=ScanPolicy(), context=ctx, flow_run_id=None,
                               page_size=page_size)
        if out["status"] != "done":
            raise RuntimeError(f"mailbox {mb}: {out['error']}")
        return int(out["seen"])

    if workers == 1:
        return sum(one(mb) for mb in mailboxes)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(one, mailboxes))


def fetch_all(client: Any, mailboxes: list[str], workers: int, page_size: int) -> int:
    """Only page through the messages (no detection, no store): the I/O side alone."""
    from mailwarden.mailbox import iter_messages

    def one(mb: str) -> int:
        return sum(1 for _ in iter_messages(client, mb, since=SINCE, page_size=page_size))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(one, mailboxes))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mailboxes", type=int, default=50)
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--page-size", type=int, default=100)
    ap.add_argument("--latency", type=float, default=PROFILES["latency"].latency)
    ap.add_argument("--memory-mailboxes", type=int, default=4)
    args = ap.parse_args()

    profile = PROFILES["latency"].with_(latency=args.latency)
    sb = Sandbox(profile=profile)
    secret = secrets.token_urlsafe(24)
    sb.register_app(CLIENT_ID, secret=secret)
    seed = generate_tenant(seed=7, users=args.mailboxes, messages_per_mailbox=args.messages, phishing_rate=0.05)
    state = sb.add_tenant(seed)
    sb.grant_consent(state.id, CLIENT_ID, tier="basic")
    mem_seed = generate_tenant(seed=8, users=max(10, args.memory_mailboxes), messages_per_mailbox=args.messages * 10,
                               phishing_rate=0.05)
    mem_state = sb.add_tenant(mem_seed)
    sb.grant_consent(mem_state.id, CLIENT_ID, tier="basic")
    boxes = sorted(state.mailboxes)
    total = sum(len(state.mailboxes[m].ids_in(None)) for m in boxes)
    cred = ClientSecretCredential(CLIENT_ID, SecretStr(secret))
    retry = RetryPolicy(max_attempts=8)
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(sb, state_dir=Path(tmp) / "sb") as srv:
        store = Store(f"sqlite:///{Path(tmp) / 'store.db'}")
        store.migrate()
        endpoints = srv.endpoints("global")
        with build_graph_client(state.id, cred, endpoints, ca_file=srv.ca_file, retry=retry) as graph:
            seen_c, wall_c, _ = measure(lambda: scan_all(graph, store, state.id, state.domain, boxes, "bench:conc",
                                                         args.concurrency, args.page_size))
            seen_f, wall_f, _ = measure(lambda: fetch_all(graph, boxes, args.concurrency, args.page_size))
            seen_s, wall_s, _ = measure(lambda: scan_all(graph, store, state.id, state.domain, boxes, "bench:seq",
                                                         1, args.page_size))
        mem_boxes = sorted(mem_state.mailboxes)[:args.memory_mailboxes]
        with build_graph_client(mem_state.id, cred, endpoints, ca_file=srv.ca_file, retry=retry) as graph:
            _, _, mem_m = measure(lambda: scan_all(graph, store, mem_state.id, mem_state.domain, mem_boxes,
                                                   "bench:mem10", 1, args.page_size))
        with build_graph_client(state.id, cred, endpoints, ca_file=srv.ca_file, retry=retry) as graph:
            _, _, mem_1 = measure(lambda: scan_all(graph, store, state.id, state.domain,
                                                   boxes[:args.memory_mailboxes], "bench:mem1", 1, args.page_size))
    ideal = min(args.concurrency, len(boxes)) / args.latency * args.page_size if args.latency else float("inf")
    conc, seq = seen_c / wall_c, seen_s / wall_s
    print(f"tenant: {len(boxes)} mailboxes, {total} visible messages; latency {args.latency * 1000:.0f} ms, "
          f"page {args.page_size}, concurrency {args.concurrency}")
    print(f"concurrent scan: {seen_c} messages in {wall_c:.2f} s = {conc:,.0f} msg/s")
    print(f"sequential loop: {seen_s} messages in {wall_s:.2f} s = {seq:,.0f} msg/s  (speed-up {conc / seq:.1f}x)")
    print(f"concurrent paging only (no detection/store): {seen_f / wall_f:,.0f} msg/s")
    print(f"ideal (concurrency / latency x page): {ideal:,.0f} msg/s  (concurrent = {conc / ideal:.0%} of it)")
    print(f"peak RSS growth scanning {args.memory_mailboxes} mailboxes: {mem_1:.1f} MB at M={args.messages}, "
          f"{mem_m:.1f} MB at 10xM={args.messages * 10}")
    print(json.dumps({"bench": "historic_scan", "mailboxes": len(boxes), "messages": total,
                      "concurrency": args.concurrency, "latency_s": args.latency, "page_size": args.page_size,
                      "concurrent_msg_s": round(conc, 1), "sequential_msg_s": round(seq, 1),
                      "fetch_only_msg_s": round(seen_f / wall_f, 1),
                      "ideal_msg_s": round(ideal, 1), "speedup": round(conc / seq, 2),
                      "peak_mb_m": round(mem_1, 1), "peak_mb_10m": round(mem_m, 1)}))


if __name__ == "__main__":
    main()
