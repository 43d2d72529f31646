"""mailwarden.store.repositories.licensing: snapshots become visible only when complete."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from mailwarden.store import Store
from mailwarden.store.models import LicenseSnapshot
from mailwarden.store.repositories import (
    latest_license_snapshot,
    list_license_snapshots,
    save_license_snapshot,
    snapshot_diffs,
    snapshot_items,
)

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def _items(n: int) -> list[dict[str, Any]]:
    return [
        {
            "object_id": f"u{i}",
            "address": f"u{i}@x.example",
            "recipient_type": "UserMailbox",
            "counted": i % 2 == 0,
            "reason": "licensed user" if i % 2 == 0 else "shared mailbox",
        }
        for i in range(n)
    ]


def _failing_items(n_before_failure: int) -> Iterator[dict[str, Any]]:
    yield from _items(n_before_failure)
    raise ConnectionError("directory sync lost mid-way")


def test_saved_snapshot_is_complete_with_items_and_diffs(store: Store) -> None:
    with store.session() as s:
        snap = save_license_snapshot(
            s,
            "t1",
            items=_items(4),
            diffs=[{"change": "added", "object_id": "u3", "details": {"why": "new"}}],
            protected_count=2,
            seats=10,
            counts={"UserMailbox": 2},
            flow_run_id="run-1",
            taken_at=T0,
        )
        snap_id = snap.id
    with store.session() as s:
        latest = latest_license_snapshot(s, "t1")
        assert latest is not None and latest.id == snap_id and latest.complete
        assert (latest.protected_count, latest.seats, latest.counts) == (2, 10, {"UserMailbox": 2})
        assert [i.object_id for i in snapshot_items(s, snap_id)] == ["u0", "u1", "u2", "u3"]
        assert [i.counted for i in snapshot_items(s, snap_id)] == [True, False, True, False]
        assert [(d.change, d.object_id) for d in snapshot_diffs(s, snap_id)] == [("added", "u3")]


def test_failure_mid_save_leaves_the_previous_complete_snapshot_latest(store: Store) -> None:
    with store.session() as s:
        first = save_license_snapshot(s, "t1", items=_items(3), protected_count=2, taken_at=T0).id
    with pytest.raises(ConnectionError), store.session() as s:
        save_license_snapshot(
            s, "t1", items=_failing_items(20_000), protected_count=99, taken_at=T0 + timedelta(1)
        )
    with store.session() as s:
        latest = latest_license_snapshot(s, "t1")
        assert latest is not None and latest.id == first and latest.protected_count == 2


def test_partial_snapshot_committed_by_a_careless_caller_never_looks_complete(store: Store) -> None:
    with store.session() as s:
        first = save_license_snapshot(s, "t1", items=_items(3), protected_count=2, taken_at=T0).id
    with store.session() as s:
        try:
            save_license_snapshot(
                s, "t1", items=_failing_items(10), protected_count=99, taken_at=T0 + timedelta(1)
            )
        except ConnectionError:
            pass  # the caller swallows the error and the session commits what was written
    with store.session() as s:
        partial = s.scalars(select(LicenseSnapshot).where(LicenseSnapshot.protected_count == 99)).one()
        assert partial.complete is False
        latest = latest_license_snapshot(s, "t1")
        assert latest is not None and latest.id == first
        assert [x.id for x in list_license_snapshots(s, "t1")] == [first]


def test_invalid_diff_change_is_refused_and_nothing_becomes_complete(store: Store) -> None:
    with pytest.raises(ValueError), store.session() as s:
        save_license_snapshot(
            s, "t1", items=_items(1), diffs=[{"change": "moved", "object_id": "u0"}], protected_count=1
        )
    with store.session() as s:
        assert latest_license_snapshot(s, "t1") is None


def test_latest_snapshot_is_per_tenant_and_newest_first(store: Store) -> None:
    with store.session() as s:
        save_license_snapshot(s, "t1", items=[], protected_count=1, taken_at=T0)
        newer = save_license_snapshot(
            s, "t1", items=[], protected_count=2, taken_at=T0 + timedelta(days=1)
        ).id
        save_license_snapshot(s, "t2", items=[], protected_count=3, taken_at=T0 + timedelta(days=2))
    with store.session() as s:
        latest = latest_license_snapshot(s, "t1")
        assert latest is not None and latest.id == newer
        assert latest_license_snapshot(s, "t3") is None
