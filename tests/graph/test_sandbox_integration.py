"""The Graph and Exchange clients against the sandbox tenant: real msal over TLS, paging, isolation."""

from __future__ import annotations

from typing import Any

import pytest

from mailwarden.graph import NotFound


def test_listing_users_follows_next_links_through_every_page(tenant_factory: Any) -> None:
    block, state = tenant_factory(users=30, messages_per_mailbox=0)
    with block.graph_client() as client:
        users = list(client.iter_pages("/users", params={"$top": "7", "$select": "id,proxyAddresses"}))
    assert len(users) == len(state.users) > 7
    assert {u["id"] for u in users} == set(state.users)


def test_a_tenant_client_cannot_read_another_tenants_objects(tenant_factory: Any) -> None:
    block_a, state_a = tenant_factory(users=12, messages_per_mailbox=0)
    _block_b, state_b = tenant_factory(users=12, messages_per_mailbox=0)
    foreign_user = next(iter(state_b.users))
    with block_a.graph_client() as client:
        assert client.get(f"/users/{next(iter(state_a.users))}")["id"] in state_a.users
        with pytest.raises(NotFound):
            client.get(f"/users/{foreign_user}")


def test_the_exchange_client_refuses_another_tenants_path_before_sending(tenant_factory: Any) -> None:
    block_a, _ = tenant_factory(users=12, messages_per_mailbox=0)
    _block_b, state_b = tenant_factory(users=12, messages_per_mailbox=0)
    client = block_a.exchange_client()
    with pytest.raises(ValueError, match="tenant"):
        client.invoke("Get-Mailbox", {"ResultSize": "1"}, tenant_id=state_b.id)
    assert client.invoke("Get-Mailbox", {"ResultSize": "Unlimited"})  # its own tenant answers
