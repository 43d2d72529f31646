"""Flows ``protect-mailboxes``, ``process-notifications`` and ``delta-sweep`` against the sandbox:
subscriptions follow the directory, phishing is quarantined and announced by an event, a missed
notification is caught by a sweep."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.usefixtures("prefect_harness")


class NoRuns:
    async def state_of(self, flow_run_id: str) -> str | None:
        return None

    async def resume(self, flow_run_id: str, run_input: dict[str, Any]) -> None:
        raise AssertionError("no consent flow here")


@pytest.fixture(scope="module")
def receiver_url(prefect_harness: None) -> Iterator[str]:
    """The receiver on the default store, at the host and port the settings name."""
    from deployments.callback import CallbackServer, create_app
    from mailwarden.settings import get_settings
    from tasks.common import store_for

    server = CallbackServer(create_app(store_for(None), runs=NoRuns())).start()
    mp = pytest.MonkeyPatch()
    mp.setenv("MAILWARDEN_CALLBACK_HOST", server.host)
    mp.setenv("MAILWARDEN_CALLBACK_PORT", str(server.port))
    get_settings.cache_clear()
    try:
        yield server.url
    finally:
        mp.undo()
        get_settings.cache_clear()
        server.stop()


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Events the protection tasks emit (recorded instead of sent)."""
    import tasks.protection

    got: list[dict[str, Any]] = []
    monkeypatch.setattr(tasks.protection, "emit_event", lambda **kw: got.append(kw))
    return got


def _wait(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _queued(tenant_id: str) -> int:
    from tasks.protection import queue_counts

    return sum(queue_counts(tenant_id).values())


@pytest.fixture
def tenant(tenant_factory: Any, receiver_url: str, embedded: Any) -> tuple[Any, Any, Any]:
    from m365sandbox.subscriptions import hub_of

    from flows.protection import protect_mailboxes
    from flows.reconciliation import reconcile_licenses

    block, state = tenant_factory(users=12, messages_per_mailbox=2)
    block.save(block.block_name, overwrite=True)
    reconcile_licenses(tenant=block.primary_domain)
    out = protect_mailboxes(tenant=block.primary_domain)
    assert out["created"] == out["mailboxes"] > 0 and out["errors"] == 0
    return block, state, hub_of(embedded.sandbox)


def _addr(state: Any, mailbox: str) -> str:
    return str(state.users[mailbox]["userPrincipalName"])


def test_protect_mailboxes_follows_the_directory_and_renews(tenant: tuple[Any, Any, Any]) -> None:
    from flows.protection import protect_mailboxes

    block, state, hub = tenant
    live = hub.list(state.id, block.app.client_id)
    again = protect_mailboxes(tenant=block.primary_domain)
    assert again["created"] == again["renewed"] == again["deleted"] == 0
    assert {r["health"] for r in again["subscriptions"]} == {"ok"}
    assert len(again["subscriptions"]) == len(live) == again["mailboxes"]
    renewed = protect_mailboxes(tenant=block.primary_domain, renew_before_hours=100, lifetime_hours=96)
    assert renewed["renewed"] == len(live) and renewed["created"] == 0
    # a mailbox that leaves the directory is unsubscribed at the next sync
    gone = live[0].user_id
    state.delete_user(gone)
    from flows.reconciliation import reconcile_licenses

    reconcile_licenses(tenant=block.primary_domain)
    after = protect_mailboxes(tenant=block.primary_domain)
    assert after["deleted"] == 1
    assert gone not in {s.user_id for s in hub.list(state.id, block.app.client_id)}


def test_process_notifications_quarantines_phishing_and_emits_a_threat_event(
        tenant: tuple[Any, Any, Any], events: list[dict[str, Any]]) -> None:
    from m365sandbox.samples import benign_message, phishing_message

    from flows.protection import process_notifications

    block, state, hub = tenant
    a, b = sorted(s.user_id for s in hub.list(state.id, block.app.client_id))[:2]
    phish = phishing_message(_addr(state, a), 1)
    hub.sb.inject_message(state.id, a, phish)
    hub.sb.inject_message(state.id, b, benign_message(_addr(state, b), 2))
    _wait(lambda: _queued(state.id) == 2)
    out = process_notifications(tenant=block.primary_domain)
    assert out["claimed"] == 2 and out["statuses"] == {"acted": 1, "clean": 1} and out["failed"] == 0
    assert [e["event"] for e in events] == ["mailwarden.threat.detected"]
    payload = events[0]["payload"]
    assert payload["sender"] == phish["from"]["emailAddress"]["address"]
    assert payload["mailbox"] == a and payload["action"] == "quarantine" and payload["tenant"] == state.id
    assert process_notifications(tenant=block.primary_domain)["claimed"] == 0


def test_missed_lifecycle_event_and_delta_sweep_catch_unnotified_mail(
        tenant: tuple[Any, Any, Any], events: list[dict[str, Any]]) -> None:
    from m365sandbox.samples import phishing_message

    from flows.protection import delta_sweep, process_notifications

    block, state, hub = tenant
    subs = sorted(hub.list(state.id, block.app.client_id), key=lambda s: s.user_id)
    hub.set_enabled(state.id, False)
    first, second = subs[0], subs[1]
    hub.sb.inject_message(state.id, first.user_id, phishing_message(_addr(state, first.user_id), 5))
    hub.sb.inject_message(state.id, second.user_id, phishing_message(_addr(state, second.user_id), 6))
    assert _queued(state.id) == 0
    hub.lifecycle(state.id, first.id, "missed")
    _wait(lambda: _queued(state.id) == 1)
    out = process_notifications(tenant=block.primary_domain)
    assert [(x["event"], x["swept"]) for x in out["lifecycle"]] == [("missed", 1)]
    swept = delta_sweep(tenant=block.primary_domain)
    assert swept["processed"] == 1 and swept["acted"] == 1  # the second mailbox; the first was done
    assert delta_sweep(tenant=block.primary_domain)["processed"] == 0
    assert [(e["payload"]["mailbox"], e["payload"]["path"]) for e in events] == [(second.user_id, "delta")]
