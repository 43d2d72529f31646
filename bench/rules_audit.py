"""Benchmark: the ``rules-audit`` flow over N mailboxes against the sandbox tenant.

The sandbox runs in its own process (its CPU does not compete with the flow's under the GIL),
in the "realistic" throttling profile by default (Graph's per-mailbox limits, directory resource
units). The flow runs for real: a temporary Prefect server, the tenant's block, one task per
mailbox at ``--concurrency`` (Graph messageRules plus Exchange ``Get-InboxRule -IncludeHidden``,
scoring, snapshots in the store, events for new suspicious rules). The address book is built
first (``reconcile-licenses``, not timed), as in normal operation. Two audits are timed:

* first: every rule is new (snapshots written, planted malicious rules raise events);
* steady: the same audit again, as the hourly schedule runs it (nothing new), once the Prefect
  server has finished recording the first audit's task runs (it does so from their events after
  the flow returns; on a small machine that backlog would otherwise slow the second run ~3x).

Prints figures (ms per mailbox, and the time 10,000 mailboxes would take at that pace), then
one JSON line.

    .venv/bin/python bench/rules_audit.py                 # ~1,000 mailboxes, concurrency 8
    .venv/bin/python bench/rules_audit.py --mailboxes 100 # quick
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _serve(conn: Connection, data_dir: str, profile: str, users: int, seed: int) -> None:
    """Child process: one generated tenant in a sandbox with mailwarden's apps; serve until told to stop."""
    from deployments.embedded import EmbeddedSandbox

    with EmbeddedSandbox(data_dir, profile=profile) as env:
        block, state = env.add_tenant(seed=seed, users=users, messages_per_mailbox=2, consent="advanced")
        conn.send({"block": block.model_dump_json(context={"include_secrets": True}),
                   "settings": env.settings_env(),
                   "mailboxes": len(state.mailboxes),
                   "planted_malicious_rules": len(state.truth.malicious_rules)})
        conn.recv()  # stop


@contextmanager
def sandbox_process(data_dir: str, profile: str, users: int, seed: int) -> Iterator[dict[str, Any]]:
    """Start the sandbox process; yields the tenant block (as JSON), the settings that reach it, what it holds."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(child, data_dir, profile, users, seed), daemon=True)
    proc.start()
    try:
        while not parent.poll(0.2):
            if not proc.is_alive():
                raise RuntimeError(f"the sandbox process exited ({proc.exitcode}) before serving")
        yield parent.recv()
    finally:
        try:
            parent.send("stop")
        except OSError:
            pass
        proc.join(15)
        if proc.is_alive():
            proc.terminate()


def timed_audit(domain: str, concurrency: int) -> tuple[float, dict[str, Any], Any]:
    """Seconds the flow took, its result, and its flow run id."""
    from flows.rules_audit import rules_audit

    started = time.perf_counter()
    state = rules_audit(tenant=domain, concurrency=concurrency, return_state=True)
    elapsed = time.perf_counter() - started
    return elapsed, state.result(), state.state_details.flow_run_id


def wait_for_server(flow_run_id: Any, mailboxes: int, timeout: float = 900.0) -> float:
    """Wait until the Prefect server has recorded every mailbox task of a run as completed.

    The server records task runs from their events, after the flow has returned; on a small
    machine it is still busy with them for a while and would slow the next run down. Returns the
    seconds waited.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        TaskRunFilter,
        TaskRunFilterFlowRunId,
        TaskRunFilterName,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    flt = TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[flow_run_id]),
                        name=TaskRunFilterName(like_="audit-rules-"),
                        state=TaskRunFilterState(type=TaskRunFilterStateType(any_=[StateType.COMPLETED])))
    started = time.perf_counter()
    with get_client(sync_client=True) as client:
        while time.perf_counter() - started < timeout:
            seen, offset = 0, 0
            while True:
                page = client.read_task_runs(task_run_filter=flt, limit=200, offset=offset)
                seen, offset = seen + len(page), offset + 200
                if len(page) < 200:
                    break
            if seen >= mailboxes:
                break
            time.sleep(1.0)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=1000, help="about this many mailboxes in the tenant")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--profile", default="realistic", choices=["realistic", "fast", "latency"])
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    if args.mailboxes < 1:
        parser.error("--mailboxes must be at least 1")

    with tempfile.TemporaryDirectory(prefix="mw-rules-bench-") as tmp:
        os.environ["MAILWARDEN_DATA_DIR"] = tmp
        os.environ["MAILWARDEN_STORE_URL"] = f"sqlite:///{Path(tmp) / 'store.sqlite'}"
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
        from prefect.testing.utilities import prefect_test_harness

        from blocks.m365 import M365Tenant
        from flows.reconciliation import reconcile_licenses

        users = args.mailboxes + args.mailboxes // 12 + 4  # some users have no mailbox (guests, rooms ...)
        t0 = time.perf_counter()
        with sandbox_process(str(Path(tmp) / "sandbox"), args.profile, users, args.seed) as served, \
                prefect_test_harness(server_startup_timeout=180):
            setup = time.perf_counter() - t0
            os.environ.update(served["settings"])  # the sandbox is server configuration, not block data
            from mailwarden.settings import get_settings

            get_settings.cache_clear()
            block = M365Tenant.model_validate_json(served["block"])
            block.save(block.block_name, overwrite=True)
            reconcile_licenses(tenant=block.primary_domain)
            first, out, run_id = timed_audit(block.primary_domain, args.concurrency)
            settle = wait_for_server(run_id, int(out["mailboxes"]))
            steady, again, _ = timed_audit(block.primary_domain, args.concurrency)
    audited = int(out["mailboxes"])
    per_first, per_steady = 1000 * first / audited, 1000 * steady / audited
    print(f"tenant: {served['mailboxes']} mailboxes in the sandbox ({args.profile} profile), "
          f"{served['planted_malicious_rules']} planted malicious rules; setup {setup:.1f} s")
    print(f"first audit:  {audited} mailboxes in {first:.1f} s = {per_first:.1f} ms per mailbox "
          f"(concurrency {args.concurrency}); {len(out['new'])} new suspicious, {out['emitted']} events")
    print(f"Prefect server busy recording the first audit's task runs for {settle:.1f} s after it returned")
    print(f"steady audit: {again['mailboxes']} mailboxes in {steady:.1f} s = {per_steady:.1f} ms per mailbox; "
          f"{len(again['new'])} new suspicious")
    print(f"at the steady pace, 10,000 mailboxes take {per_steady * 10:.0f} s ({per_steady * 10 / 60:.1f} min)")
    print(json.dumps({
        "mailboxes": audited, "concurrency": args.concurrency, "profile": args.profile,
        "first_seconds": round(first, 2), "first_ms_per_mailbox": round(per_first, 1),
        "server_settle_seconds": round(settle, 1),
        "steady_seconds": round(steady, 2), "steady_ms_per_mailbox": round(per_steady, 1),
        "minutes_per_10k_mailboxes": round(per_steady * 10 / 60, 1),
        "new_suspicious_first": len(out["new"]), "new_suspicious_steady": len(again["new"]),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
