"""mailwarden.store.repositories.protection: subscriptions and exactly-once claims."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from mailwarden.store import Store, hash_secret_ref
from mailwarden.store.repositories import (
    claim_message,
    get_subscription,
    is_processed,
    save_subscription,
    subscriptions_expiring,
    update_subscription,
    verify_client_state,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_claim_message_is_true_only_for_the_first_claimant(store: Store) -> None:
    with store.session() as s:
        assert claim_message(s, "t1", "mbx", internet_message_id="<a@x>", message_id="id1") is True
    with store.session() as s:
        assert (
            claim_message(s, "t1", "mbx", internet_message_id="<a@x>", message_id="id2", path="delta")
            is False
        )
        assert claim_message(s, "t1", "other-mbx", internet_message_id="<a@x>") is True
        assert is_processed(s, "t1", "mbx", internet_message_id="<a@x>")
        assert not is_processed(s, "t1", "mbx", internet_message_id="<b@x>")


def test_claim_message_from_many_threads_succeeds_exactly_once(store: Store) -> None:
    threads = 8
    barrier = threading.Barrier(threads)

    def attempt(i: int) -> bool:
        barrier.wait(timeout=10)
        path = "notification" if i % 2 else "delta"
        with store.session() as s:
            return claim_message(s, "t1", "mbx", internet_message_id="<race@x>", path=path)

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(attempt, range(threads)))
    assert results.count(True) == 1


def test_a_rolled_back_claim_frees_the_message(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session() as s:
        assert claim_message(s, "t1", "mbx", message_id="id-9")
        raise RuntimeError("processing failed")
    with store.session() as s:
        assert claim_message(s, "t1", "mbx", message_id="id-9") is True


def test_claim_message_needs_an_id_and_a_known_path(store: Store) -> None:
    with store.session() as s:
        with pytest.raises(ValueError):
            claim_message(s, "t1", "mbx")
        with pytest.raises(ValueError):
            claim_message(s, "t1", "mbx", message_id="x", path="carrier-pigeon")


def test_subscription_keeps_only_the_client_state_hash_and_verifies_it(store: Store) -> None:
    with store.session() as s:
        sub = save_subscription(
            s,
            "t1",
            "mbx",
            "sub-1",
            resource="/users/mbx/messages",
            client_state="cs-secret-1",
            expires_at=NOW + timedelta(days=2),
        )
        assert sub.client_state_hash == hash_secret_ref("cs-secret-1")
    with store.session() as s:
        assert verify_client_state(s, "sub-1", "cs-secret-1") is True
        assert verify_client_state(s, "sub-1", "cs-wrong") is False
        assert verify_client_state(s, "sub-1", None) is False
        assert verify_client_state(s, "sub-unknown", "cs-secret-1") is False


def test_subscriptions_expiring_lists_active_ones_due_for_renewal(store: Store) -> None:
    with store.session() as s:
        for i, hours in enumerate((1, 30, 2)):
            save_subscription(
                s,
                "t1",
                f"mbx{i}",
                f"sub-{i}",
                resource="r",
                client_state="cs",
                expires_at=NOW + timedelta(hours=hours),
            )
        update_subscription(s, "sub-2", status="removed")
    with store.session() as s:
        due = subscriptions_expiring(s, NOW + timedelta(hours=3))
        assert [d.subscription_id for d in due] == ["sub-0"]
        update_subscription(s, "sub-0", expires_at=NOW + timedelta(days=3))
        assert subscriptions_expiring(s, NOW + timedelta(hours=3)) == []
        refreshed = get_subscription(s, "sub-0")
        assert refreshed is not None and refreshed.expires_at == NOW + timedelta(days=3)
