"""Flow ``reconcile-licenses``: the nightly directory sync and licence count of one tenant.

Entrypoint for deployments: ``flows/reconciliation.py:reconcile_licenses`` (scheduled nightly per
tenant, and run on demand).

The operator's runbook, step by step:

1. load the tenant's connection (block name or primary domain) and its last complete snapshot
   (from the worker's local copy of exactly that snapshot when there is one, else the store);
2. sync the directory: the first run (or ``full=True``, or an expired delta token) lists
   everything; later runs apply Graph delta rounds onto the last snapshot;
3. build the address book (a delta run updates the last one, rebuilding only what changed),
   count the protected mailboxes per ``policy``, and diff with the last snapshot (added,
   removed, changed: aliases, licences, enabled state, group members);
4. settle the seats bought: the ``seats`` parameter, else the last snapshot's, else the enabled
   units of the mailbox SKUs the tenant subscribes to;
5. save directory, delta links and snapshot in one transaction (a delta run writes only the
   changed rows) -- a run that fails before this point leaves the last snapshot as it was, and
   the next run starts from it again; then keep the new snapshot's local copy;
6. publish the summary, the counts and the diff as artifacts, with CSV exports of the address
   book and the licence list under the data directory;
7. notify (``notify`` block) when the seats are exceeded or the count moved by more than
   ``change_threshold_pct`` percent.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from mailwarden.directory import LicensePolicy, Reconciliation, alerts
from tasks.common import current_flow_run_id, load_tenant
from tasks.directory import (
    count_licences,
    load_previous,
    publish_report,
    resolve_seats,
    save_snapshot_task,
    sync_directory_task,
)
from tasks.notify import notify_task


@flow(name="reconcile-licenses", log_prints=False, validate_parameters=True)
def reconcile_licenses(
    tenant: str,
    full: bool = False,
    seats: int | None = None,
    policy: LicensePolicy | None = None,
    change_threshold_pct: float = 5.0,
    notify: str | None = None,
) -> dict[str, Any]:
    """Sync the directory of ``tenant``, count protected mailboxes, save and report the snapshot.

    Args:
        tenant: The tenant's block name or primary domain.
        full: Force a full directory sync instead of a delta.
        seats: Seats bought; default: the last snapshot's, else the enabled units of mailbox SKUs.
        policy: Which mailboxes count (default: enabled, licensed member UserMailbox only).
        change_threshold_pct: Notify when the protected count moves by more than this percentage.
        notify: Name of a Prefect notification block to alert.
    """
    if seats is not None and seats < 0:
        raise ValueError("seats must not be negative")
    if change_threshold_pct < 0:
        raise ValueError("change_threshold_pct must not be negative")
    policy = policy or LicensePolicy()
    log = get_run_logger()
    block = load_tenant(tenant)
    log.info("reconciling tenant %s (%s, %s cloud)", block.primary_domain, block.tenant_id, block.cloud)
    previous = load_previous(block)
    result = sync_directory_task(block, previous, full=full)
    lic = count_licences(result, previous, policy)
    seat_count, seats_source = resolve_seats(seats, previous, result)
    snapshot_id = save_snapshot_task(block, result, lic, seat_count, current_flow_run_id())

    rec = Reconciliation(
        tenant=block.primary_domain, tenant_id=block.tenant_id, mode=result.mode,
        protected=int(lic.counts["protected"]), seats=seat_count, seats_source=seats_source,
        previous_protected=previous.protected, diff=lic.summary, conflicts=len(lic.book.conflicts),
        counts=lic.counts, fallback_reason=result.fallback_reason)
    alert_lines = alerts(rec, change_threshold_pct)
    exports = publish_report(block, rec, lic, alert_lines)
    notified = False
    if alert_lines:
        log.warning("licence alerts for %s: %s", block.primary_domain, "; ".join(alert_lines))
        if notify:
            body = "\n".join([f"Tenant {block.primary_domain}: {rec.protected} protected mailboxes, "
                              f"{rec.seats if rec.seats is not None else 'unknown'} seats.", *alert_lines])
            notified = bool(notify_task(notify, f"mailwarden licences: {block.primary_domain}", body))
    return {
        "tenant": block.primary_domain, "tenant_id": block.tenant_id, "snapshot_id": snapshot_id,
        "mode": result.mode, "fallback_reason": result.fallback_reason,
        "protected": rec.protected, "seats": seat_count, "seats_source": seats_source,
        "previous_protected": previous.protected, "diff": dict(lic.summary), "conflicts": rec.conflicts,
        "alerts": alert_lines, "notified": notified, "exports": exports,
    }
