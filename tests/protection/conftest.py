"""A protected sandbox tenant: a queue store, the receiver beside the consent callback, subscriptions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from m365sandbox.subscriptions import SubscriptionHub, hub_of

from deployments.callback import CallbackServer, create_app
from mailwarden.protection import ProtectionPolicy, plan_subscriptions, sync_subscriptions
from mailwarden.protection.drain import TenantProtection
from mailwarden.store import Store, open_store
from mailwarden.store.repositories import count_notifications, list_subscriptions


class NoRuns:
    """Run control for the consent half of the app (unused here)."""

    async def state_of(self, flow_run_id: str) -> str | None:
        return None

    async def resume(self, flow_run_id: str, run_input: dict[str, Any]) -> None:
        raise AssertionError("no consent flow in these tests")


@pytest.fixture(scope="session")
def queue_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    path: Path = tmp_path_factory.mktemp("protection") / "store.sqlite"
    store = open_store(f"sqlite:///{path}")
    store.migrate()
    return store


@pytest.fixture(scope="session")
def receiver(queue_store: Store) -> Iterator[CallbackServer]:
    with CallbackServer(create_app(queue_store, runs=NoRuns())) as srv:
        yield srv


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll a condition (background senders deliver asynchronously); False on timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@dataclass
class Protected:
    """A tenant with subscriptions on some of its mailboxes, and how to drive it."""

    block: Any
    state: Any
    hub: SubscriptionHub
    store: Store
    receiver: CallbackServer
    mailboxes: list[str]
    protection: TenantProtection

    @property
    def tenant_id(self) -> str:
        return str(self.state.id)

    def address(self, mailbox_id: str) -> str:
        return str(self.state.users[mailbox_id]["userPrincipalName"])

    def deliver(self, mailbox_id: str, message: dict[str, Any]) -> dict[str, Any]:
        got: dict[str, Any] = self.hub.sb.inject_message(self.tenant_id, mailbox_id, message)
        return got

    def counters(self) -> dict[str, Any]:
        return self.hub.counters(self.tenant_id)

    def queued(self) -> int:
        with self.store.session() as s:
            return sum(count_notifications(s, self.tenant_id).values())

    def pending(self) -> int:
        with self.store.session() as s:
            return count_notifications(s, self.tenant_id).get("pending", 0)

    def wait_sent(self, n: int) -> None:
        """Wait until the sandbox has sent ``n`` notifications and the receiver queued them."""
        assert wait_until(lambda: self.counters().get("notified", 0) >= n and self.queued() >= n), \
            (self.counters(), self.queued())

    def subscriptions(self) -> list[Any]:
        with self.store.session() as s:
            return list_subscriptions(s, self.tenant_id)

    def folder_of(self, mailbox_id: str, internet_message_id: str) -> str | None:
        """The display name of the folder holding the message now (sandbox truth)."""
        mb = self.state.mailboxes[mailbox_id]
        with mb.lock:
            for item in mb.items.values():
                if item.get("internetMessageId") == internet_message_id:
                    return str(mb.folders[item.folder]["displayName"])
        return None


def subscribe(p: Protected, mailboxes: list[str]) -> Any:
    with p.store.session() as s:
        records = list_subscriptions(s, p.tenant_id)
        plan = plan_subscriptions(mailboxes, records, now=datetime.now(UTC))
        return sync_subscriptions(p.protection.client, s, tenant_id=p.tenant_id, plan=plan, records=records,
                                  notification_url=p.receiver.url + "/notifications",
                                  lifecycle_url=p.receiver.url + "/lifecycle", now=datetime.now(UTC),
                                  before_create=lambda mb: p.protection.sweep(mb))


@pytest.fixture
def protected(tenant_factory: Any, embedded: Any, queue_store: Store,
              receiver: CallbackServer) -> Iterator[Callable[..., Protected]]:
    """``protected(n=3)``: a fresh tenant whose first ``n`` user mailboxes are subscribed."""
    clients: list[Any] = []

    def make(n: int = 3, policy: ProtectionPolicy | None = None) -> Protected:
        block, state = tenant_factory(users=max(12, n + 8), messages_per_mailbox=2)
        users = [uid for uid, u in state.users.items() if uid in state.mailboxes
                 and u.get("accountEnabled", True) and u.get("userType") != "Guest"]
        chosen = sorted(users)[:n]
        client = block.graph_client()
        clients.append(client)
        protection = TenantProtection(tenant_id=state.id, client=client, store=queue_store,
                                      policy=policy or ProtectionPolicy(),
                                      notification_url=receiver.url + "/notifications",
                                      lifecycle_url=receiver.url + "/lifecycle")
        p = Protected(block, state, hub_of(embedded.sandbox), queue_store, receiver, chosen, protection)
        result = subscribe(p, chosen)
        assert not result.errors, result.errors
        return p

    yield make
    for c in clients:
        c.close()
