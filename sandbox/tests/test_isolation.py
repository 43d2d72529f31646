"""Tenants are isolated: one tenant's token never reads another tenant's objects."""

from __future__ import annotations

import httpx

from m365sandbox import Sandbox, SandboxServer
from tests.conftest import TENANT_B, get_token

B_USER = "bbbbbbbb-u001-4000-8000-000000000000"
B_GROUP = "bbbbbbbb-g001-4000-8000-000000000000"


def test_tenant_a_token_sees_only_tenant_a_users(graph: httpx.Client) -> None:
    ids = [u["id"] for u in graph.get("/users").json()["value"]]
    assert ids and all(i.startswith("aaaaaaaa") for i in ids)


def test_tenant_b_objects_are_404_for_tenant_a(graph: httpx.Client) -> None:
    assert graph.get(f"/users/{B_USER}").status_code == 404
    assert graph.get("/users/alice@fabrikam.example").status_code == 404
    assert graph.get(f"/groups/{B_GROUP}/transitiveMembers").status_code == 404
    assert graph.patch(f"/users/{B_USER}", json={"accountEnabled": False}).status_code == 404


def test_the_sdk_forms_read_nothing_of_another_tenant(graph: httpx.Client) -> None:
    """mailboxSettings, $count and delta() answer from the token's tenant only."""
    assert graph.get(f"/users/{B_USER}/mailboxSettings").status_code == 404
    assert graph.get(f"/users/{B_USER}/mailboxSettings/timeZone").status_code == 404
    eventual = {"ConsistencyLevel": "eventual"}
    assert graph.get(f"/groups/{B_GROUP}/members/$count", headers=eventual).status_code == 404
    a_users = len(graph.get("/users", params={"$top": 999}).json()["value"])
    assert int(graph.get("/users/$count", headers=eventual).text) == a_users
    ids = [u["id"] for u in graph.get("/users/delta()").json()["value"]]
    assert ids and all(i.startswith("aaaaaaaa") for i in ids)


def test_changes_in_one_tenant_do_not_leak(graph: httpx.Client, sb: Sandbox, server: SandboxServer) -> None:
    graph.patch("/users/alice@contoso.example", json={"accountEnabled": False})
    assert sb.tenant(TENANT_B).users[B_USER]["accountEnabled"] is True
    token = get_token(server, TENANT_B).json()["access_token"]
    with httpx.Client(verify=server.ca_file, trust_env=False,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        assert c.get(f"{server.url}/v1.0/users/{B_USER}").json()["id"] == B_USER


def test_delta_token_of_one_tenant_is_refused_by_another(graph: httpx.Client, server: SandboxServer) -> None:
    link = graph.get("/users/delta").json()["@odata.deltaLink"]
    token = get_token(server, TENANT_B).json()["access_token"]
    with httpx.Client(verify=server.ca_file, trust_env=False,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        assert c.get(link).status_code == 410
