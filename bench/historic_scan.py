"""Benchmark: the historic scan's concurrent per-mailbox scan vs a sequential loop vs the ideal.

The sandbox tenant runs in its own process (its CPU does not compete with the scanner's under
the GIL) in the "latency" profile: a fixed latency per Graph reply (``--latency``, 0.5 s by
default, about what Graph takes for a page of 100 messages with bodies and attachments) and
Graph's limit of 4 concurrent requests per app and mailbox. The scanner does exactly what the
flow's mailbox task does (:func:`mailwarden.scan.scan_mailbox`: page with the scan ``$select``,
the next page read while this one is classified; classify every message; bulk-insert each
page's findings in one transaction; checkpoint the mailbox with its message count):

* concurrently: ``--concurrency`` mailboxes at once on a thread pool (what the flow's
  ``ThreadPoolTaskRunner`` does, without Prefect's per-task bookkeeping);
* sequentially: a plain ``for`` loop over the same client, same mailboxes, same work.

The ideal is what the sandbox's limits allow: a mailbox is read page after page (each request
needs the previous page's ``@odata.nextLink``), so at most ``min(concurrency, mailboxes)``
requests are in flight (the per-mailbox limit of 4 never binds), each taking ``latency`` seconds
and returning ``page_size`` messages::

    ideal = min(concurrency, mailboxes) / latency x page_size   messages/s

The scan is latency-bound only while the ideal stays below what one core can classify (the
scanner's CPU per message is printed): at 20 ms the ideal would be 80,000 msg/s, a CPU-bound
test instead. Memory: a fresh scanner process scans ``--memory-mailboxes`` mailboxes at once
with M, then 10 x M messages each; its peak traced Python heap (tracemalloc) and peak RSS growth
must not grow with M. Prints figures, then one JSON line.

    .venv/bin/python bench/historic_scan.py            # the issue's sizes: 200 mailboxes x 500
    .venv/bin/python bench/historic_scan.py --quick    # 48 x 200, sequential loop over 8 mailboxes
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import secrets
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLIENT_ID = "0b6c2f0e-7f55-4b6a-9d0c-5a1d2e3f4a5b"
SINCE = datetime(2000, 1, 1, tzinfo=UTC)
PROFILE = "latency"


# -- the sandbox, in its own process -------------------------------------------------------------
def _serve(conn: Connection, secret: str, latency: float, state_dir: str,
           tenants: list[tuple[int, int, int]]) -> None:
    """Child process: generate ``tenants`` ((seed, mailboxes, messages) each), serve them until told to stop."""
    from m365sandbox import Sandbox, SandboxServer
    from m365sandbox.generator import generate_tenant
    from m365sandbox.throttle import PROFILES

    sb = Sandbox(profile=PROFILES[PROFILE].with_(latency=latency))
    sb.register_app(CLIENT_ID, secret=secret)
    info: list[dict[str, Any]] = []
    for seed, boxes, messages in tenants:
        users = max(10, boxes + boxes // 12 + 4)  # some users have no mailbox (guests, disabled ...)
        state = sb.add_tenant(generate_tenant(seed=seed, users=users, messages_per_mailbox=messages,
                                              phishing_rate=0.05))
        sb.grant_consent(state.id, CLIENT_ID, tier="basic")
        chosen = sorted(state.mailboxes)[:boxes]
        info.append({"id": state.id, "domain": state.domain, "mailboxes": chosen,
                     "messages": sum(len(state.mailboxes[m].ids_in(None)) for m in chosen)})
    with SandboxServer(sb, state_dir=state_dir) as srv:
        conn.send({"pid": os.getpid(), "url": srv.url, "ca_file": srv.ca_file, "tenants": info,
                   "mailbox_concurrency": sb.profile.mailbox_concurrency, "latency": sb.profile.latency})
        conn.recv()  # stop


def _reply(proc: Any, conn: Connection, what: str) -> Any:
    """The child's message, or an error if it exits without sending one."""
    while not conn.poll(0.2):
        if not proc.is_alive():
            raise RuntimeError(f"{what} exited ({proc.exitcode}) without a result")
    return conn.recv()


@contextmanager
def sandbox_process(secret: str, latency: float, state_dir: str,
                    tenants: list[tuple[int, int, int]]) -> Iterator[dict[str, Any]]:
    """Start the sandbox process; yields what it serves (url, ca_file, tenants)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(child, secret, latency, state_dir, tenants), daemon=True)
    proc.start()
    try:
        yield _reply(proc, parent, "the sandbox process")
    finally:
        try:
            parent.send("stop")
        except OSError:
            pass
        proc.join(15)
        if proc.is_alive():
            proc.terminate()


# -- the scanner -----------------------------------------------------------------------------------
def _client(sandbox: dict[str, Any], tenant_id: str, secret: str) -> Any:
    from pydantic import SecretStr

    from mailwarden.graph import ClientSecretCredential, RetryPolicy, build_graph_client, endpoints_for

    url = sandbox["url"]
    endpoints = endpoints_for("global", login_url=url, graph_url=url, exchange_url=url)
    return build_graph_client(tenant_id, ClientSecretCredential(CLIENT_ID, SecretStr(secret)), endpoints,
                              ca_file=sandbox["ca_file"], retry=RetryPolicy(max_attempts=8))


def scan_all(client: Any, store: Any, tenant: dict[str, Any], mailboxes: list[str], scope: str,
             workers: int, page_size: int) -> int:
    """Scan every mailbox (``workers=1``: a plain loop); returns the messages seen."""
    from mailwarden.detection import DetectionContext
    from mailwarden.mailbox.access import GraphAccess
    from mailwarden.scan import ScanPolicy, scan_mailbox

    ctx = DetectionContext(tenant_domains=frozenset({tenant["domain"]}))

    def one(mb: str) -> int:
        out = scan_mailbox(GraphAccess(client, mb), store, tenant_id=tenant["id"], scan_id=scope, since=SINCE,
                           folders=None, policy=ScanPolicy(), context=ctx, flow_run_id=None, page_size=page_size)
        if out.status != "done":
            raise RuntimeError(f"mailbox {mb}: {out.error}")
        return out.seen

    if workers == 1:
        return sum(one(mb) for mb in mailboxes)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(one, mailboxes))


def open_store(path: Path) -> Any:
    from mailwarden.store import Store

    store = Store(f"sqlite:///{path}")
    store.migrate()
    return store


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def timed_scan(sandbox: dict[str, Any], secret: str, tenant: dict[str, Any], mailboxes: list[str], scope: str,
               workers: int, page_size: int, db: Path) -> dict[str, float]:
    """One scan with a fresh client and store (token and connection made before the clock starts):
    messages, wall seconds, and CPU seconds of the scanner (this process) and of the sandbox."""
    store = open_store(db)
    with _client(sandbox, tenant["id"], secret) as graph:
        graph.get("/organization")
        cpu, sb_cpu, start = time.process_time(), _cpu_of(sandbox["pid"]), time.perf_counter()
        seen = scan_all(graph, store, tenant, mailboxes, scope, workers, page_size)
        wall = time.perf_counter() - start
        cpu, sb_cpu = time.process_time() - cpu, _cpu_of(sandbox["pid"]) - sb_cpu
    store.dispose()
    return {"seen": seen, "wall": wall, "cpu": cpu, "sandbox_cpu": sb_cpu}


def _rss() -> int:
    """Resident set size in bytes (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def _memory_child(conn: Connection, sandbox: dict[str, Any], secret: str, tenant: dict[str, Any],
                  workers: int, page_size: int, db: str) -> None:
    """Scan once to warm up (imports, pools, caches), then scan again under tracemalloc with RSS sampled."""
    timed_scan(sandbox, secret, tenant, tenant["mailboxes"][:1], "bench:warm", 1, page_size, Path(db))
    base, peak, stop = _rss(), [0], threading.Event()

    def sample() -> None:
        while not stop.wait(0.01):
            peak[0] = max(peak[0], _rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    tracemalloc.start()
    run = timed_scan(sandbox, secret, tenant, tenant["mailboxes"], "bench:mem", workers, page_size, Path(db))
    heap = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    stop.set()
    sampler.join()
    conn.send((run["seen"], heap / 1e6, max(0, max(peak[0], _rss()) - base) / 1e6))


def peak_memory_scan(sandbox: dict[str, Any], secret: str, tenant: dict[str, Any], workers: int, page_size: int,
                     db: Path) -> tuple[int, float, float]:
    """(messages, peak traced Python heap in MB, peak RSS growth in MB) of a fresh scanner process
    scanning ``tenant``'s mailboxes ``workers`` at a time, after a warm-up scan."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_memory_child, args=(child, sandbox, secret, tenant, workers, page_size, str(db)))
    proc.start()
    seen, heap, rss = _reply(proc, parent, "the memory scan process")
    proc.join()
    return seen, heap, rss


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--mailboxes", type=int, default=200)
    ap.add_argument("--messages", type=int, default=500, help="messages per mailbox")
    ap.add_argument("--concurrency", type=int, default=16, help="mailboxes scanned at once")
    ap.add_argument("--page-size", type=int, default=100)
    ap.add_argument("--latency", type=float, default=0.5, help="seconds the sandbox adds to every Graph reply")
    ap.add_argument("--sequential-mailboxes", type=int, default=0,
                    help="run the sequential loop over the first N mailboxes only (0: all of them)")
    ap.add_argument("--memory-mailboxes", type=int, default=4, help="mailboxes scanned for the memory figures")
    ap.add_argument("--quick", action="store_true",
                    help="48 mailboxes x 200 messages, sequential loop over 8 of them (development)")
    args = ap.parse_args()
    if args.quick:
        args.mailboxes, args.messages, args.sequential_mailboxes = 48, 200, args.sequential_mailboxes or 8
    import mailwarden.scan  # noqa: F401 - imported before any clock starts

    secret = secrets.token_urlsafe(24)
    k = args.memory_mailboxes
    specs = [(7, args.mailboxes, args.messages), (8, k, args.messages * 10)]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with sandbox_process(secret, args.latency, str(tmp / "sb"), specs) as sandbox:
            main_t, mem_t = sandbox["tenants"]
            boxes = main_t["mailboxes"]
            seq_boxes = boxes[:args.sequential_mailboxes] if args.sequential_mailboxes else boxes
            conc = timed_scan(sandbox, secret, main_t, boxes, "bench:conc", args.concurrency, args.page_size,
                              tmp / "conc.db")
            seq = timed_scan(sandbox, secret, main_t, seq_boxes, "bench:seq", 1, args.page_size, tmp / "seq.db")
            seen_1, heap_1, rss_1 = peak_memory_scan(sandbox, secret, {**main_t, "mailboxes": boxes[:k]}, k,
                                                     args.page_size, tmp / "mem1.db")
            seen_10, heap_10, rss_10 = peak_memory_scan(sandbox, secret, mem_t, k, args.page_size,
                                                        tmp / "mem10.db")
            mbx_limit, latency = sandbox["mailbox_concurrency"], sandbox["latency"]
    load_after = os.getloadavg()[0]

    in_flight = min(args.concurrency, len(boxes))
    ideal = in_flight / latency * args.page_size
    conc_rate, seq_rate = conc["seen"] / conc["wall"], seq["seen"] / seq["wall"]
    cpu_us = 1e6 * conc["cpu"] / conc["seen"]
    sb_us = 1e6 * conc["sandbox_cpu"] / conc["seen"]
    print(f"sandbox in its own process: profile {PROFILE!r}, {latency * 1000:.0f} ms per Graph request, "
          f"at most {mbx_limit} concurrent requests per mailbox")
    print(f"tenant: {len(boxes)} mailboxes, {main_t['messages']} messages; page {args.page_size}, "
          f"scanner concurrency {args.concurrency}")
    print(f"concurrent scan: {conc['seen']} messages in {conc['wall']:.2f} s = {conc_rate:,.0f} msg/s")
    print(f"sequential loop: {seq['seen']} messages ({len(seq_boxes)} mailboxes) in {seq['wall']:.2f} s "
          f"= {seq_rate:,.0f} msg/s")
    print(f"speed-up: {conc_rate / seq_rate:.1f}x")
    print(f"ideal = min(concurrency {args.concurrency}, mailboxes {len(boxes)}) / latency {latency:g} s "
          f"x page {args.page_size} = {ideal:,.0f} msg/s (a mailbox is read page after page, so one request "
          f"per mailbox is in flight: the limit of {mbx_limit} per mailbox never binds)")
    print(f"concurrent = {conc_rate / ideal:.0%} of the ideal")
    print(f"CPU per message: scanner {cpu_us:.0f} us (one core: at most {1e6 / cpu_us:,.0f} msg/s), "
          f"sandbox {sb_us:.0f} us; load average {load_before:.1f} before, {load_after:.1f} after "
          f"({os.cpu_count()} CPUs)")
    print(f"peak memory of a scanner process scanning {k} mailboxes at once (traced Python heap / RSS growth): "
          f"{heap_1:.1f} / {rss_1:.1f} MB at {args.messages} messages each ({seen_1} in all), "
          f"{heap_10:.1f} / {rss_10:.1f} MB at {args.messages * 10} each ({seen_10} in all)")
    print(json.dumps({"bench": "historic_scan", "mailboxes": len(boxes), "messages": main_t["messages"],
                      "concurrency": args.concurrency, "latency_s": latency, "page_size": args.page_size,
                      "concurrent_msg_s": round(conc_rate, 1), "sequential_msg_s": round(seq_rate, 1),
                      "speedup": round(conc_rate / seq_rate, 2), "ideal_msg_s": round(ideal, 1),
                      "pct_of_ideal": round(100 * conc_rate / ideal, 1),
                      "scanner_cpu_us_per_msg": round(cpu_us, 1), "sandbox_cpu_us_per_msg": round(sb_us, 1),
                      "peak_heap_mb_1x": round(heap_1, 1), "peak_heap_mb_10x": round(heap_10, 1),
                      "peak_rss_growth_mb_1x": round(rss_1, 1), "peak_rss_growth_mb_10x": round(rss_10, 1),
                      "load_avg": round(max(load_before, load_after), 1)}))


if __name__ == "__main__":
    main()
