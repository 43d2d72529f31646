"""Tasks of the ``reconcile-licenses`` flow: thin wrappers over ``mailwarden.directory``.

Each validates its input (``ValueError`` before any I/O), calls the core, logs with
``get_run_logger()``, and declares its retries. Only transient failures are retried
(transport errors, throttling past the client's budget, 5xx); a missing consent or a bad
parameter fails at once. Big values (the directory, the address book) pass between tasks in
memory; the tasks do not cache them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from blocks.m365 import M365Tenant
from mailwarden.directory import (
    AddressBook,
    DirectoryState,
    LicensePolicy,
    Reconciliation,
    SyncResult,
    delta_links,
    diff_summary,
    load_snapshot,
    mailbox_seats,
    previous_seats,
    reconcile,
    save_snapshot,
    summary_markdown,
    sync_directory,
    write_cache,
    write_exports,
)
from mailwarden.settings import get_settings
from tasks.common import retry_transient, store_for

RETRY_DELAYS: list[float] = [5, 20, 60]
INLINE_CSV_MAX_ROWS = 500
"""Up to this many licence rows, the CSV is also shown inline in a Markdown artifact."""


def cache_dir() -> Path:
    """Where the latest snapshot of each tenant is kept for the next delta run (worker's data dir)."""
    return get_settings().data_dir / "directory-cache"


class Previous:
    """The last complete snapshot (or nothing): directory, address book, delta links, seats, protected count."""

    __slots__ = ("book", "links", "protected", "seats", "state")

    def __init__(self, state: DirectoryState | None, links: dict[str, str | None], seats: int | None,
                 protected: int | None, book: AddressBook | None = None) -> None:
        self.state, self.links, self.seats, self.protected = state, links, seats, protected
        self.book = book


@task(name="load-previous-snapshot", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def load_previous(block: M365Tenant) -> Previous:
    """The last complete directory snapshot of the tenant (its local cache, else its store)."""
    from mailwarden.store.repositories import latest_license_snapshot

    store = store_for(block)
    with store.session() as s:
        loaded = load_snapshot(s, block.tenant_id, cache_dir())
        state, book = loaded if loaded is not None else (None, None)
        links = delta_links(s, block.tenant_id)
        seats = previous_seats(s, block.tenant_id)
        snap = latest_license_snapshot(s, block.tenant_id)
        protected = snap.protected_count if snap is not None else None
    log = get_run_logger()
    if state is None:
        log.info("no previous snapshot of %s: this run is a full sync", block.primary_domain)
    else:
        log.info("previous snapshot of %s: %s users, %s groups, %s protected", block.primary_domain,
                 len(state.users), len(state.groups), protected)
    return Previous(state, links, seats, protected, book)


@task(name="sync-directory", retries=3, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=retry_transient,
      cache_policy=NO_CACHE)
def sync_directory_task(block: M365Tenant, previous: Previous, full: bool = False) -> SyncResult:
    """Full or delta sync of users, groups, SKUs and recipient types (falls back to full on 410)."""
    if not isinstance(previous, Previous):
        raise ValueError("previous must come from load_previous")
    log = get_run_logger()
    with block.graph_client("basic") as graph, block.exchange_client("basic") as exchange:
        result = sync_directory(graph, exchange, block.tenant_id, previous.state, previous.links, full=full)
    log.info("%s sync of %s: %s users, %s groups, %s changed, %s removed, recipient types: %s",
             result.mode, block.primary_domain, len(result.state.users), len(result.state.groups),
             len(result.changed) if result.mode == "delta" else "all", len(result.removed),
             result.recipient_lookups)
    if result.fallback_reason:
        log.warning("%s: fell back to a full sync: %s", block.primary_domain, result.fallback_reason)
    return result


class Licensing:
    """The address book, licence list, counts and diff of one run."""

    __slots__ = ("book", "counts", "diffs", "licences", "summary")

    def __init__(self, book: AddressBook, licences: pd.DataFrame, counts: dict[str, Any],
                 diffs: list[dict[str, Any]], summary: dict[str, int]) -> None:
        self.book, self.licences, self.counts = book, licences, counts
        self.diffs, self.summary = diffs, summary


@task(name="count-licences", cache_policy=NO_CACHE)
def count_licences(result: SyncResult, previous: Previous, policy: LicensePolicy) -> Licensing:
    """Build the address book, count protected mailboxes per policy, diff with the previous snapshot.

    After a delta sync the previous book is updated (only changed objects rebuilt and compared);
    after a full sync the book is built from scratch and compared whole.
    """
    if not isinstance(policy, LicensePolicy):
        raise ValueError("policy must be a LicensePolicy")
    old = previous.book
    if old is None and previous.state is not None:
        old = AddressBook.from_state(previous.state)
    if result.mode == "delta" and old is not None and previous.state is not None:
        book = old.updated(previous.state, result.state)
    else:
        book = AddressBook.from_state(result.state)
    licences, counts, diffs = reconcile(old, book, policy)
    summary = diff_summary(diffs)
    counts.update({"mode": result.mode, "conflicts": len(book.conflicts), "diff": summary,
                   "recipient_lookups": result.recipient_lookups})
    get_run_logger().info("%s protected mailboxes; %s added, %s removed, %s changed; %s address conflicts",
                          counts["protected"], summary["added"], summary["removed"], summary["changed"],
                          len(book.conflicts))
    return Licensing(book, licences, counts, diffs, summary)


def resolve_seats(seats: int | None, previous: Previous, result: SyncResult) -> tuple[int | None, str]:
    """Seats bought: the parameter, else the previous snapshot's, else the mailbox SKUs' units."""
    if seats is not None:
        if seats < 0:
            raise ValueError("seats must not be negative")
        return seats, "parameter"
    if previous.seats is not None:
        return previous.seats, "previous snapshot"
    from_skus = mailbox_seats(result.state.skus)
    return from_skus, "subscribed SKUs" if from_skus is not None else "unknown"


@task(name="save-snapshot", retries=2, retry_delay_seconds=[5, 20], cache_policy=NO_CACHE)
def save_snapshot_task(block: M365Tenant, result: SyncResult, lic: Licensing, seats: int | None,
                       flow_run_id: str | None) -> int:
    """Write directory, delta links, licence snapshot and diff in one transaction."""
    store = store_for(block)
    with store.session() as s:
        snapshot_id = save_snapshot(s, result.state, lic.book, lic.licences, lic.diffs, counts=lic.counts,
                                    seats=seats, links=result.links, flow_run_id=flow_run_id)
    if result.state.snapshot is not None:  # committed: keep it for the next delta run
        try:
            write_cache(cache_dir(), result.state.snapshot, result.state, lic.book)
        except Exception as exc:  # noqa: BLE001 - the snapshot is committed; the next run reads the store
            get_run_logger().warning("directory cache of %s not written: %s", block.primary_domain, exc)
    get_run_logger().info("saved snapshot %s of %s (%s protected, %s seats)", snapshot_id,
                          block.primary_domain, lic.counts["protected"], seats)
    return snapshot_id


@task(name="publish-report", cache_policy=NO_CACHE)
def publish_report(block: M365Tenant, rec: Reconciliation, lic: Licensing, alert_lines: list[str],
                   out_dir: Path | None = None) -> dict[str, str]:
    """CSV exports under the data dir, and the table, Markdown and link artifacts of the run."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(out_dir) if out_dir is not None else get_settings().data_dir
    paths = write_exports(lic.book, lic.licences, folder, block.primary_domain, stamp)
    links = {name: str(p.resolve()) for name, p in paths.items()}
    key = block.block_name
    create_markdown_artifact(summary_markdown(rec, alert_lines, links), key=f"licences-{key}",
                             description=f"Licence reconciliation of {block.primary_domain}")
    counts_rows: list[dict[str, Any]] = [{"figure": "protected", "value": rec.protected},
                   {"figure": "seats", "value": rec.seats if rec.seats is not None else "unknown"},
                   {"figure": "previous protected",
                    "value": rec.previous_protected if rec.previous_protected is not None else "none"},
                   *({"figure": k, "value": v} for k, v in rec.diff.items()),
                   {"figure": "address conflicts", "value": rec.conflicts},
                   *({"figure": f"type {k}", "value": v} for k, v in rec.counts["by_recipient_type"].items())]
    create_table_artifact(counts_rows, key=f"licence-counts-{key}", description="Counts of this run")
    from mailwarden.directory.report import diff_table

    create_table_artifact(diff_table(lic.diffs) or [{"change": "none"}], key=f"licence-diff-{key}",
                          description="Changes since the previous snapshot (first 500)")
    for name, path in links.items():
        create_link_artifact(Path(path).as_uri(), link_text=Path(path).name,
                             key=f"{name.replace('_', '-')}-{key}",
                             description=f"{name} CSV on the worker's data directory")
    if len(lic.licences) <= INLINE_CSV_MAX_ROWS:
        csv_text = lic.licences.to_csv(index=False)
        create_markdown_artifact(f"# Licence list: {block.primary_domain}\n\n```csv\n{csv_text}```\n",
                                 key=f"licence-list-{key}", description="Licence list (CSV, inline)")
    get_run_logger().info("exports of %s written to %s", block.primary_domain, paths["licences"].parent)
    return links
