"""Directory roles as Graph serves them: memberOf (direct) and transitiveMemberOf (through groups),
limited objects without role-read permission, OData casts, faults limited to a path."""

from __future__ import annotations

import httpx
import pytest

from m365sandbox import Sandbox

from .conftest import TENANT_A

ROLE = "#microsoft.graph.directoryRole"


def _ids(tenant_state: object, *names: str) -> list[str]:
    users = tenant_state.users  # type: ignore[attr-defined]
    return [next(u["id"] for u in users.values() if u["mailNickname"] == n) for n in names]


@pytest.fixture
def admins(sb: Sandbox) -> dict[str, str]:
    """alice: Global Administrator directly; bob: Exchange Administrator through the nested group
    Engineering (inside All staff, which holds the role)."""
    t = sb.tenant(TENANT_A)
    alice, bob, carol = _ids(t, "alice", "bob", "carol")
    t.assign_role("Global Administrator", alice)
    outer = next(g for g in t.groups.values() if g["displayName"] == "All staff")["id"]
    t.assign_role("Exchange Administrator", outer)
    return {"alice": alice, "bob": bob, "carol": carol, "group": outer}


def _roles(graph: httpx.Client, user: str, relation: str) -> list[dict[str, object]]:
    r = graph.get(f"/users/{user}/{relation}")
    assert r.status_code == 200, r.text
    return [o for o in r.json()["value"] if o["@odata.type"] == ROLE]


def test_direct_role_shows_in_member_of_and_roles_through_groups_only_transitively(
        graph: httpx.Client, admins: dict[str, str]) -> None:
    direct = {o["id"] for o in _roles(graph, admins["alice"], "memberOf")}
    assert len(direct) == 1  # Global Administrator; All staff's role only comes through the group
    assert direct < {o["id"] for o in _roles(graph, admins["alice"], "transitiveMemberOf")}
    assert _roles(graph, admins["bob"], "memberOf") == []
    via_group = _roles(graph, admins["bob"], "transitiveMemberOf")
    assert len(via_group) == 1 and set(via_group[0]) == {"@odata.type", "id"}  # User.Read.All: limited object
    cast = graph.get(f"/users/{admins['bob']}/transitiveMemberOf/microsoft.graph.directoryRole").json()["value"]
    assert [o["id"] for o in cast] == [via_group[0]["id"]]


def test_the_group_holding_a_role_becomes_role_assignable(sb: Sandbox, admins: dict[str, str]) -> None:
    assert sb.tenant(TENANT_A).groups[admins["group"]]["isAssignableToRole"] is True


def test_a_fault_limited_to_a_path_throttles_only_role_reads(
        sb: Sandbox, graph: httpx.Client, admins: dict[str, str]) -> None:
    sb.faults.inject("429", tenant=TENANT_A, path="memberOf", retry_after=1)
    assert graph.get(f"/users/{admins['alice']}/transitiveMemberOf").status_code == 429
    assert graph.get(f"/users/{admins['alice']}/memberOf").status_code == 429
    assert graph.get(f"/users/{admins['alice']}").status_code == 200

