"""mailwarden.store.repositories.scanning: scan runs, checkpoints, idempotent findings."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from mailwarden.store import Store
from mailwarden.store.errors import RecordNotFound
from mailwarden.store.repositories import (
    add_findings,
    create_scan_run,
    ensure_checkpoints,
    finish_scan_run,
    get_checkpoint,
    get_scan_run,
    list_checkpoints,
    list_findings,
    mark_checkpoint_done,
    mark_checkpoint_failed,
    mark_checkpoint_running,
)

RECEIVED = datetime(2025, 2, 1, 8, 30, tzinfo=UTC)


def _finding(scan_id: str, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "tenant_id": "t1",
        "scan_id": scan_id,
        "mailbox_id": "mbx",
        "message_id": f"AAMk{n}",
        "internet_message_id": f"<{n}@x>",
        "category": "phish",
        "score": 0.5 + n / 100,
        "reasons": [{"code": "lookalike"}],
        "received_at": RECEIVED,
        "subject": "hi",
        "sender": "a@b",
        **extra,
    }


def test_scan_run_lifecycle(store: Store) -> None:
    with store.session() as s:
        run = create_scan_run(s, "t1", "historic", flow_run_id="run-1", parameters={"days": 30})
        scan_id = run.id
    with store.session() as s:
        finish_scan_run(s, scan_id, "done", totals={"messages": 10, "findings": 1})
    with store.session() as s:
        run = get_scan_run(s, scan_id)
        assert run is not None and run.status == "done" and run.finished_at is not None
        assert run.parameters == {"days": 30} and run.totals == {"messages": 10, "findings": 1}
        with pytest.raises(RecordNotFound):
            finish_scan_run(s, "missing", "done")


def test_checkpoints_are_created_once_and_move_through_states(store: Store) -> None:
    with store.session() as s:
        assert ensure_checkpoints(s, "t1", "scan-1", [("m1", "inbox"), ("m2", "inbox")]) == 2
        assert ensure_checkpoints(s, "t1", "scan-1", [("m1", "inbox"), ("m3", "inbox")]) == 1
    with store.session() as s:
        mark_checkpoint_running(s, "t1", "scan-1", "m1", "inbox")
        mark_checkpoint_failed(s, "t1", "scan-1", "m2", "inbox", "mailbox 404")
    with store.session() as s:
        mark_checkpoint_done(
            s,
            "t1",
            "scan-1",
            "m1",
            "inbox",
            delta_link="https://d/1",
            last_received=RECEIVED,
            messages_seen=42,
        )
    with store.session() as s:
        cp = get_checkpoint(s, "t1", "scan-1", "m1", "inbox")
        assert cp is not None and (cp.state, cp.delta_link, cp.messages_seen) == ("done", "https://d/1", 42)
        assert cp.last_received == RECEIVED
        assert [c.mailbox_id for c in list_checkpoints(s, "scan-1", state="failed")] == ["m2"]
        assert [c.mailbox_id for c in list_checkpoints(s, "scan-1", state="pending")] == ["m3"]
        failed = get_checkpoint(s, "t1", "scan-1", "m2", "inbox")
        assert failed is not None and failed.error == "mailbox 404"
        assert get_checkpoint(s, "t2", "scan-1", "m1", "inbox") is None


def test_findings_are_idempotent_on_scan_mailbox_and_message(store: Store) -> None:
    with store.session() as s:
        assert add_findings(s, [_finding("scan-1", i) for i in range(5)]) == 5
    with store.session() as s:
        assert add_findings(s, [_finding("scan-1", i) for i in range(3, 8)]) == 3
        assert add_findings(s, [_finding("scan-2", 1)]) == 1  # another scan may find it again
    with store.session() as s:
        assert len(list_findings(s, scan_id="scan-1")) == 8
        assert len(list_findings(s, tenant_id="t1")) == 9


def test_finding_without_internet_message_id_is_keyed_on_message_id(store: Store) -> None:
    with store.session() as s:
        row = _finding("scan-1", 1, internet_message_id=None)
        assert add_findings(s, [row, row]) == 1
        (stored,) = list_findings(s, scan_id="scan-1")
        assert stored.message_key == "AAMk1"


def test_finding_subject_is_truncated_and_invalid_findings_refused(store: Store) -> None:
    with store.session() as s:
        add_findings(s, [_finding("scan-1", 1, subject="x" * 1000)])
        (stored,) = list_findings(s, scan_id="scan-1")
        assert stored.subject == "x" * 255
        with pytest.raises(ValueError):
            add_findings(s, [_finding("scan-1", 2, internet_message_id=None, message_id=None)])


def test_many_threads_adding_overlapping_findings_store_each_once(store: Store) -> None:
    threads = 6
    barrier = threading.Barrier(threads)

    def worker(i: int) -> int:
        barrier.wait(timeout=10)
        with store.session() as s:
            return add_findings(s, [_finding("scan-1", n) for n in range(i * 10, i * 10 + 30)])

    with ThreadPoolExecutor(threads) as pool:
        inserted = sum(pool.map(worker, range(threads)))
    with store.session() as s:
        stored = len(list_findings(s, scan_id="scan-1"))
    assert stored == (threads - 1) * 10 + 30
    assert inserted == stored
