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


# --- the notification queue ------------------------------------------------------------------


def _queue_items(n: int, tenant: str = "t1") -> list[dict[str, str]]:
    return [{"tenant_id": tenant, "subscription_id": "s", "mailbox_id": "m", "kind": "change",
             "change_type": "created", "message_id": f"id{i}"} for i in range(n)]


def test_queued_notifications_are_claimed_once_and_taken_over_after_their_lease(store: Store) -> None:
    from mailwarden.store import utcnow
    from mailwarden.store.repositories import (
        claim_notifications,
        count_notifications,
        enqueue_notifications,
        finish_notifications,
    )

    with store.session() as s:
        enqueue_notifications(s, _queue_items(5) + _queue_items(2, tenant="t2"))
        s.commit()
    with store.session() as s:
        first = claim_notifications(s, limit=3, tenant_id="t1")
        second = claim_notifications(s, limit=10, tenant_id="t1")
        s.commit()
    assert len(first) == 3 and len(second) == 2
    assert not {r.id for r in first} & {r.id for r in second}
    with store.session() as s:
        assert claim_notifications(s, tenant_id="t1") == []
        later = claim_notifications(s, tenant_id="t1", now=utcnow() + timedelta(minutes=10))
        assert len(later) == 5 and {r.attempts for r in later} == {2}
        finish_notifications(s, [r.id for r in later[:4]], outcome="acted")
        finish_notifications(s, [later[4].id], state="pending", error="Throttled: later")
        s.commit()
        assert count_notifications(s, "t1") == {"done": 4, "pending": 1}
        assert count_notifications(s, "t2") == {"pending": 2}


def test_concurrent_drainers_never_claim_the_same_notification(store: Store) -> None:
    from mailwarden.store.repositories import claim_notifications, enqueue_notifications

    with store.session() as s:
        enqueue_notifications(s, _queue_items(200))
        s.commit()
    start = threading.Barrier(4)

    def drain() -> list[int]:
        got: list[int] = []
        start.wait()
        while True:
            with store.session() as s:
                rows = claim_notifications(s, limit=7, tenant_id="t1")
                s.commit()
            if not rows:
                return got
            got.extend(r.id for r in rows)

    with ThreadPoolExecutor(4) as pool:
        claimed = [i for ids in pool.map(lambda _: drain(), range(4)) for i in ids]
    assert len(claimed) == len(set(claimed)) == 200
