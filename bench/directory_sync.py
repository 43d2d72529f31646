"""Benchmark: full directory sync, a nightly delta, and the address-book resolution alone.

Runs the sandbox in-process ("fast" profile), syncs a generated tenant through the real Graph
and Exchange clients over TLS, builds the address book and licence list, and saves the snapshot
to a temporary SQLite store. Prints figures and a final JSON line.

    .venv/bin/python bench/directory_sync.py                      # 50,000 users, 5,000 groups
    .venv/bin/python bench/directory_sync.py --users 2000 --groups 200

Each run does what the flow's tasks do: load the previous snapshot (the delta from the local
cache file the full run wrote), sync, build the book (the delta updates the previous one), count,
diff, save in one transaction, write the cache. Afterwards the delta's book is checked against a
from-scratch build of the stored directory.

Targets: delta < 1/10 of full (wall time); resolution of 50,000 users / 150,000 addresses < 2 s.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import secrets
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from m365sandbox import Sandbox, SandboxServer
from m365sandbox.generator import generate_tenant
from pydantic import SecretStr

from mailwarden.directory import (
    AddressBook,
    DirectoryState,
    LicensePolicy,
    delta_links,
    load_snapshot,
    load_state,
    reconcile,
    save_snapshot,
    sync_directory,
    write_cache,
)
from mailwarden.graph import (
    ClientSecretCredential,
    RetryPolicy,
    build_exchange_client,
    build_graph_client,
    endpoints_for,
)
from mailwarden.store import Store

CLIENT_ID = "6d1f6a3e-5c1b-4d55-9d7e-0b7a0c6e1b99"
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss() -> int:
    """Resident set size of this process in bytes (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:
        return 0


def measure(fn: Callable[[], Any]) -> tuple[Any, float, float, float]:
    """(result, wall seconds, peak RSS growth in MB, peak RSS in MB) -- RSS sampled every 20 ms."""
    base = rss()
    peak = [base]
    stop = threading.Event()

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
    peak[0] = max(peak[0], rss())
    return result, wall, (peak[0] - base) / 1e6, peak[0] / 1e6


class GcTimer:
    """Seconds the cyclic garbage collector ran (gc.callbacks), by generation."""

    def __init__(self) -> None:
        self.total, self.by_gen, self._t = 0.0, [0.0, 0.0, 0.0], 0.0
        gc.callbacks.append(self._cb)

    def _cb(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t = time.perf_counter()
        else:
            spent = time.perf_counter() - self._t
            self.total += spent
            self.by_gen[info["generation"]] += spent

    def take(self) -> float:
        out, self.total, self.by_gen = self.total, 0.0, [0.0, 0.0, 0.0]
        return round(out, 3)


GC = GcTimer()


def run_once(graph: Any, exchange: Any, store: Store, tenant_id: str, full: bool,
             cache: Path, read_cache: bool = True) -> dict[str, Any]:
    """One reconciliation as the flow's tasks do it, without Prefect: load the previous snapshot
    (from the cache file on disk, else the store), sync, build or update the book, count, diff,
    save in one transaction, then write the cache for the next run."""
    phases: dict[str, float] = {}
    gc_phases: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        phases[name] = round(now - t, 3)
        gc_phases[name] = GC.take()
        t = now

    with store.session() as s:
        loaded = load_snapshot(s, tenant_id, cache if read_cache else None)
        links = delta_links(s, tenant_id)
    previous, old = loaded if loaded is not None else (None, None)
    lap("load")
    result = sync_directory(graph, exchange, tenant_id, previous, links, full=full)
    lap("sync")
    if result.mode == "delta" and old is not None and previous is not None:
        book = old.updated(previous, result.state)
    else:
        book = AddressBook.from_state(result.state)
    lap("book")
    licences, counts, diffs = reconcile(old, book, LicensePolicy())
    lap("licences_diff")
    with store.session() as s:
        save_snapshot(s, result.state, book, licences, diffs, counts=counts, seats=None, links=result.links)
    lap("save")
    assert result.state.snapshot is not None
    write_cache(cache, result.state.snapshot, result.state, book)
    lap("cache")
    return {"mode": result.mode, "protected": counts["protected"], "diffs": len(diffs),
            "recipient_lookups": result.recipient_lookups, "phases_s": phases,
            "gc_s": round(sum(gc_phases.values()), 3), "gc_phases_s": gc_phases}


def mutate(state: Any, fraction: float, rng: random.Random) -> int:
    """Change ``fraction`` of the users: a quarter each added, deleted, aliased, moved between groups."""
    n = max(4, int(len(state.users) * fraction))
    quarter = n // 4
    users = sorted(state.users)
    sku = state.skus[0]["skuId"] if state.skus else str(uuid.uuid4())
    for _ in range(quarter):
        uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        addr = f"bench.{uid[:8]}@{state.domain}"
        with state.lock:
            state.users[uid] = {"id": uid, "displayName": f"Bench {uid[:8]}", "userPrincipalName": addr,
                                "mail": addr, "proxyAddresses": [f"SMTP:{addr}"], "accountEnabled": True,
                                "userType": "Member",
                                "assignedLicenses": [{"skuId": sku, "disabledPlans": []}]}
            state.recipients[uid] = {"RecipientTypeDetails": "UserMailbox", "PrimarySmtpAddress": addr,
                                     "EmailAddresses": [f"SMTP:{addr}"]}
            state.record("user", uid)
    for uid in rng.sample(users, quarter):
        state.delete_user(uid)
    alive = sorted(state.users)
    for uid in rng.sample(alive, quarter):
        state.update_user(uid, {"proxyAddresses": [*(state.users[uid].get("proxyAddresses") or []),
                                                   f"smtp:alias.{uid[:8]}@{state.domain}"]})
    groups = sorted(state.groups)
    for uid in rng.sample(alive, quarter):
        state.add_member(rng.choice(groups), uid)
    with state.lock:
        state.reindex()
    return 4 * quarter


def same_book(a: AddressBook, b: AddressBook) -> bool:
    """Whether two books hold the same rows (order aside)."""
    def rows(df: Any) -> list[tuple[Any, ...]]:
        frame = df.reset_index(drop=True).astype(object)
        return sorted(map(tuple, frame.where(frame.notna(), None).itertuples(index=False)), key=repr)

    return all(rows(getattr(a, f)) == rows(getattr(b, f)) for f in ("objects", "addresses", "memberships"))


def resolution_bench(state: DirectoryState) -> dict[str, Any]:
    """Build the address book alone (explode, lower, merge, closure, lookup dicts), resolve 10,000 addresses."""

    def build() -> AddressBook:
        book = AddressBook.from_state(state)
        book.resolve("")  # the lookup dicts are built on first use: count them in
        return book

    book, wall, peak, _ = measure(build)
    sample = book.addresses["address"].sample(min(10_000, len(book.addresses)), random_state=1).tolist()
    start = time.perf_counter()
    for a in sample:
        book.resolve(a.upper())
    per = (time.perf_counter() - start) / max(1, len(sample))
    return {"users": len(state.users), "groups": len(state.groups), "addresses": len(book.addresses),
            "conflicts": len(book.conflicts), "build_s": round(wall, 3), "peak_mb": round(peak, 1),
            "resolve_us": round(per * 1e6, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=50_000)
    p.add_argument("--groups", type=int, default=5_000)
    p.add_argument("--change", type=float, default=0.01, help="fraction of users changed before the delta")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-cache", action="store_true",
                   help="the delta run loads the previous snapshot from the store, not the local cache")
    args = p.parse_args(argv)

    print(f"generating a tenant of {args.users} users and {args.groups} groups ...", flush=True)
    t0 = time.perf_counter()
    seed = generate_tenant(seed=args.seed, users=args.users, groups=args.groups, messages_per_mailbox=0)
    print(f"  generated in {time.perf_counter() - t0:.1f}s")
    sb = Sandbox(profile="fast")
    secret = secrets.token_urlsafe(32)
    sb.register_app(CLIENT_ID, secret=secret)
    state = sb.add_tenant(seed)
    sb.grant_consent(state.id, CLIENT_ID, tier="basic")
    cred = ClientSecretCredential(CLIENT_ID, SecretStr(secret))
    out: dict[str, Any] = {"users": args.users, "groups": args.groups, "change": args.change,
                           "delta_from": "store" if args.no_cache else "cache"}
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(sb, state_dir=Path(tmp) / "sb") as srv:
        endpoints = endpoints_for("global", login_url=srv.url, graph_url=srv.url, exchange_url=srv.url)
        retry = RetryPolicy(max_attempts=3, sleep=lambda s: None)
        store = Store(f"sqlite:///{Path(tmp) / 'store.sqlite'}")
        store.migrate()
        with build_graph_client(state.id, cred, endpoints, ca_file=srv.ca_file, retry=retry,
                                timeout=300) as g, \
                build_exchange_client(state.id, cred, endpoints, ca_file=srv.ca_file, retry=retry,
                                      timeout=300) as x:
            cache = Path(tmp) / "cache"
            GC.take()
            full, wall_full, mem_full, rss_full = measure(
                lambda: run_once(g, x, store, state.id, full=True, cache=cache))
            print(f"full sync:  {wall_full:8.2f} s  peak +{mem_full:7.1f} MB (RSS {rss_full:.0f} MB)  {full}")
            changed = mutate(state, args.change, random.Random(args.seed))
            gc.collect()
            GC.take()
            delta, wall_delta, mem_delta, rss_delta = measure(
                lambda: run_once(g, x, store, state.id, full=False, cache=cache, read_cache=not args.no_cache))
            print(f"delta sync: {wall_delta:8.2f} s  peak +{mem_delta:7.1f} MB (RSS {rss_delta:.0f} MB)  {delta} "
                  f"({changed} changes)")
        with store.session() as s:
            current = load_state(s, state.id)
            cached = load_snapshot(s, state.id, cache)
        store.dispose()
    assert current is not None and cached is not None
    same = same_book(cached[1], AddressBook.from_state(current))
    print(f"delta book (cached) equals a from-scratch build of the stored directory: {same}")
    res = resolution_bench(current)
    print(f"resolution: {res['build_s']:8.2f} s  peak +{res['peak_mb']:7.1f} MB  "
          f"{res['addresses']} addresses, {res['resolve_us']} us per resolve()")
    ratio = wall_delta / wall_full if wall_full else None
    out.update({"full_s": round(wall_full, 3), "full_peak_mb": round(mem_full, 1),
                "full_peak_rss_mb": round(rss_full), "full_phases_s": full["phases_s"],
                "delta_s": round(wall_delta, 3), "delta_peak_mb": round(mem_delta, 1),
                "delta_peak_rss_mb": round(rss_delta), "delta_phases_s": delta["phases_s"],
                "delta_diffs": delta["diffs"],
                "delta_over_full": round(ratio, 3) if ratio is not None else None,
                "delta_mode": delta["mode"], "changes": changed, "delta_book_verified": same,
                "resolution": res,
                "targets_met": {"delta_under_tenth": bool(ratio is not None and ratio < 0.1),
                                "resolution_under_2s": res["build_s"] < 2.0}})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
