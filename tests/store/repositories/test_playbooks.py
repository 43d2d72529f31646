"""mailwarden.store.repositories.playbooks: playbook runs and one-shot consent requests."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from mailwarden.store import Store, hash_secret_ref
from mailwarden.store.errors import (
    ConsentRequestError,
    ConsentRequestExpired,
    ConsentRequestReused,
    ConsentRequestUnknown,
    RecordNotFound,
)
from mailwarden.store.repositories import (
    append_playbook_step,
    consume_consent_request,
    create_consent_request,
    create_playbook_run,
    get_playbook_run,
    update_playbook_run,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_consent_request_is_consumed_once_then_reuse_is_refused(store: Store) -> None:
    with store.session() as s:
        req = create_consent_request(s, "state-1", "contoso.example", flow_run_id="run-1", now=NOW)
        assert req.state_hash == hash_secret_ref("state-1")
    with store.session() as s:
        used = consume_consent_request(s, "state-1", outcome="consented", now=NOW + timedelta(minutes=5))
        assert used.tenant_ref == "contoso.example" and used.outcome == "consented"
        assert used.used_at == NOW + timedelta(minutes=5)
    with store.session() as s, pytest.raises(ConsentRequestReused):
        consume_consent_request(s, "state-1", now=NOW + timedelta(minutes=6))


def test_expired_consent_request_is_refused(store: Store) -> None:
    with store.session() as s:
        create_consent_request(s, "state-2", "contoso.example", ttl=timedelta(minutes=10), now=NOW)
    with store.session() as s, pytest.raises(ConsentRequestExpired):
        consume_consent_request(s, "state-2", now=NOW + timedelta(minutes=11))


def test_unknown_or_empty_state_is_refused_without_echoing_it(store: Store) -> None:
    with store.session() as s:
        with pytest.raises(ConsentRequestUnknown) as info:
            consume_consent_request(s, "forged-state-xyz", now=NOW)
        assert "forged-state-xyz" not in str(info.value)
        with pytest.raises(ConsentRequestError):
            consume_consent_request(s, "", now=NOW)


def test_concurrent_callbacks_with_one_state_let_exactly_one_through(store: Store) -> None:
    with store.session() as s:
        create_consent_request(s, "state-3", "contoso.example", now=NOW)
    threads = 6
    barrier = threading.Barrier(threads)

    def attempt(_: int) -> bool:
        barrier.wait(timeout=10)
        try:
            with store.session() as s:
                consume_consent_request(s, "state-3", now=NOW + timedelta(minutes=1))
            return True
        except ConsentRequestReused:
            return False

    with ThreadPoolExecutor(threads) as pool:
        assert list(pool.map(attempt, range(threads))).count(True) == 1


def test_playbook_run_records_steps_and_finishes(store: Store) -> None:
    with store.session() as s:
        run = create_playbook_run(
            s, "t1", "user-1", flow_run_id="run-1", trigger="rule:forward-external", evidence={"rule": "r1"}
        )
        run_id = run.id
    with store.session() as s:
        append_playbook_step(s, run_id, {"name": "revoke_sessions", "result": "done"})
        append_playbook_step(s, run_id, {"name": "reset_password", "result": "skipped"})
    with store.session() as s:
        update_playbook_run(s, run_id, status="done")
    with store.session() as s:
        run = get_playbook_run(s, run_id)
        assert run is not None
        assert [step["name"] for step in run.steps or []] == ["revoke_sessions", "reset_password"]
        assert run.status == "done" and run.finished_at is not None
        assert run.evidence == {"rule": "r1"}
        with pytest.raises(TypeError):
            update_playbook_run(s, run_id, colour="red")
        with pytest.raises(RecordNotFound):
            update_playbook_run(s, "missing", status="done")
