"""mailwarden.store.repositories.audit: the idempotent audit log."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from mailwarden.store import Store
from mailwarden.store.errors import RecordNotFound
from mailwarden.store.models import RemediationAction
from mailwarden.store.repositories import (
    begin_action,
    complete_action,
    get_action,
    idempotency_key,
    list_actions,
    record_action,
)

FIELDS = {
    "tenant_id": "t1",
    "target_kind": "message",
    "mailbox_id": "mbx-1",
    "target": "msg-1",
    "action": "quarantine",
    "actor": "threat-response",
    "reason": "policy:phish",
    "approval": "auto",
    "flow_run_id": "run-1",
    "details": {"new_message_id": "msg-1-moved"},
}


def _count(store: Store) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(RemediationAction)) or 0)


def test_record_action_twice_keeps_one_row_and_returns_the_first(store: Store) -> None:
    with store.session() as s:
        first, created = record_action(s, "k1", **FIELDS)
    with store.session() as s:
        second, created_again = record_action(
            s, "k1", **{**FIELDS, "result": "failed", "actor": "someone-else"}
        )
    assert created is True and created_again is False
    assert second.id == first.id
    assert (second.actor, second.result, second.state) == ("threat-response", "done", "done")
    assert second.details == {"new_message_id": "msg-1-moved"}
    assert _count(store) == 1


def test_record_action_from_many_threads_at_once_creates_exactly_one(store: Store) -> None:
    threads = 8
    barrier = threading.Barrier(threads)

    def attempt(i: int) -> bool:
        barrier.wait(timeout=10)
        with store.session() as s:
            _, created = record_action(s, "race-key", **{**FIELDS, "actor": f"worker-{i}"})
            return created

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(attempt, range(threads)))
    assert results.count(True) == 1
    assert _count(store) == 1


def test_record_action_refuses_unknown_fields_missing_fields_and_bad_results(store: Store) -> None:
    with store.session() as s:
        with pytest.raises(TypeError):
            record_action(s, "k", **FIELDS, colour="red")
        with pytest.raises(TypeError):
            record_action(s, "k", **{k: v for k, v in FIELDS.items() if k != "actor"})
        with pytest.raises(ValueError):
            record_action(s, "k", **FIELDS, result="maybe")
        with pytest.raises(ValueError):
            record_action(s, "", **FIELDS)


def test_begin_then_complete_moves_planned_to_done(store: Store) -> None:
    with store.session() as s:
        action, created = begin_action(s, "k2", **FIELDS)
        assert created and action.state == "planned" and action.result is None
    with store.session() as s:
        again, created = begin_action(s, "k2", **FIELDS)
        assert not created and again.state == "planned"  # a crash between acting and recording shows
        done = complete_action(s, "k2", "done", details={"original_folder": "inbox"})
    assert done.state == "done" and done.result == "done" and done.completed_at is not None
    assert done.details == {"new_message_id": "msg-1-moved", "original_folder": "inbox"}
    with store.session() as s:
        assert complete_action(s, "k2", "failed").result == "done"  # completing twice changes nothing
        assert [a.idempotency_key for a in list_actions(s, "t1", state="planned")] == []


def test_complete_action_of_an_unknown_key_raises(store: Store) -> None:
    with store.session() as s, pytest.raises(RecordNotFound):
        complete_action(s, "nope", "done")


def test_list_actions_filters_by_tenant_and_flow_run(store: Store) -> None:
    with store.session() as s:
        record_action(s, "a", **FIELDS)
        record_action(s, "b", **{**FIELDS, "flow_run_id": "run-2"})
        record_action(s, "c", **{**FIELDS, "tenant_id": "t2"})
    with store.session() as s:
        assert [a.idempotency_key for a in list_actions(s, "t1")] == ["a", "b"]
        assert [a.idempotency_key for a in list_actions(s, "t1", flow_run_id="run-2")] == ["b"]
        assert get_action(s, "c") is not None and get_action(s, "zzz") is None


def test_idempotency_key_joins_parts_and_hashes_long_keys() -> None:
    assert idempotency_key("t1", "quarantine", "mbx", "msg") == "t1:quarantine:mbx:msg"
    long_key = idempotency_key("t1", "x" * 500)
    assert len(long_key) <= 255
    assert long_key != idempotency_key("t1", "x" * 499)
