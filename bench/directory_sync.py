"""Benchmark: full directory sync, a nightly delta, and the address-book resolution alone.

Runs the sandbox in-process ("fast" profile), syncs a generated tenant through the real Graph
and Exchange clients over TLS, builds the address book and licence list, and saves the snapshot
to a temporary SQLite store. Prints figures and a final JSON line.

    .venv/bin/python bench/directory_sync.py                      # 50,000 users, 5,000 groups
    .venv/bin/python bench/directory_sync.py --users 2000 --groups 200

Targets: delta < 1/10 of full (wall time); resolution of 50,000 users / 150,000 addresses < 2 s.
"""

from __future__ import annotations

import argparse
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

from pydantic import SecretStr

from mailwarden.directory import (
    AddressBook,
    DirectoryState,
    LicensePolicy,
    delta_links,
    diff_books,
    license_counts,
    license_list,
    load_state,
    save_snapshot,
    sync_directory,
)
from mailwarden.graph import ClientSecretCredential, RetryPolicy, build_exchange_client, build_graph_client
from mailwarden.sandbox import Sandbox, SandboxServer
from mailwarden.sandbox.generator import generate_tenant
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


def measure(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, peak RSS growth in MB) -- RSS sampled every 20 ms."""
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
    return result, wall, (peak[0] - base) / 1e6


def run_once(graph: Any, exchange: Any, store: Store, tenant_id: str, full: bool) -> dict[str, Any]:
    """One reconciliation without Prefect: load previous, sync, count, diff, save."""
    with store.session() as s:
        previous = load_state(s, tenant_id)
        links = delta_links(s, tenant_id)
    result = sync_directory(graph, exchange, tenant_id, previous, links, full=full)
    book = AddressBook.from_state(result.state)
    policy = LicensePolicy()
    licences = license_list(book, policy)
    counts = license_counts(licences)
    diffs: list[dict[str, Any]] = []
    if previous is not None:
        old = AddressBook.from_state(previous)
        diffs = diff_books(old, book, license_list(old, policy), licences)
    with store.session() as s:
        save_snapshot(s, result.state, book, licences, diffs, counts=counts, seats=None, links=result.links)
    return {"mode": result.mode, "protected": counts["protected"], "diffs": len(diffs),
            "recipient_lookups": result.recipient_lookups}


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


def resolution_bench(state: DirectoryState) -> dict[str, Any]:
    """Build the address book alone (explode, lower, merge, closure) and resolve 10,000 addresses."""
    book, wall, peak = measure(lambda: AddressBook.from_state(state))
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
    out: dict[str, Any] = {"users": args.users, "groups": args.groups, "change": args.change}
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(sb, state_dir=Path(tmp) / "sb") as srv:
        endpoints = srv.endpoints("global")
        retry = RetryPolicy(max_attempts=3, sleep=lambda s: None)
        store = Store(f"sqlite:///{Path(tmp) / 'store.sqlite'}")
        store.migrate()
        with build_graph_client(state.id, cred, endpoints, ca_file=srv.ca_file, retry=retry,
                                timeout=300) as g, \
                build_exchange_client(state.id, cred, endpoints, ca_file=srv.ca_file, retry=retry,
                                      timeout=300) as x:
            full, wall_full, mem_full = measure(lambda: run_once(g, x, store, state.id, full=True))
            print(f"full sync:  {wall_full:8.2f} s  peak +{mem_full:7.1f} MB  {full}")
            changed = mutate(state, args.change, random.Random(args.seed))
            delta, wall_delta, mem_delta = measure(lambda: run_once(g, x, store, state.id, full=False))
            print(f"delta sync: {wall_delta:8.2f} s  peak +{mem_delta:7.1f} MB  {delta} ({changed} changes)")
        with store.session() as s:
            current = load_state(s, state.id)
        store.dispose()
    assert current is not None
    res = resolution_bench(current)
    print(f"resolution: {res['build_s']:8.2f} s  peak +{res['peak_mb']:7.1f} MB  "
          f"{res['addresses']} addresses, {res['resolve_us']} us per resolve()")
    ratio = wall_delta / wall_full if wall_full else None
    out.update({"full_s": round(wall_full, 3), "full_peak_mb": round(mem_full, 1),
                "delta_s": round(wall_delta, 3), "delta_peak_mb": round(mem_delta, 1),
                "delta_over_full": round(ratio, 3) if ratio is not None else None,
                "delta_mode": delta["mode"], "changes": changed, "resolution": res,
                "targets_met": {"delta_under_tenth": bool(ratio is not None and ratio < 0.1),
                                "resolution_under_2s": res["build_s"] < 2.0}})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
