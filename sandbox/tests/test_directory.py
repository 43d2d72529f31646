"""Graph directory routes: envelopes, $select/$filter/$top/$count, PATCH, revoke, members, delta."""

from __future__ import annotations

import httpx

from m365sandbox import Sandbox, SandboxServer
from tests.conftest import TENANT_A, TENANT_B, get_token

ALICE = "aaaaaaaa-u001-4000-8000-000000000000"
BOB = "aaaaaaaa-u002-4000-8000-000000000000"
G_OUTER = "aaaaaaaa-g001-4000-8000-000000000000"


def test_users_default_property_set_hides_proxy_addresses(graph: httpx.Client) -> None:
    body = graph.get("/users").json()
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#users"
    assert len(body["value"]) == 4
    assert "proxyAddresses" not in body["value"][0] and "accountEnabled" not in body["value"][0]
    sel = graph.get("/users", params={"$select": "id,proxyAddresses,accountEnabled"}).json()
    assert set(sel["value"][0]) == {"id", "proxyAddresses", "accountEnabled"}
    assert "smtp:alice.alias@contoso.example" in sel["value"][0]["proxyAddresses"]


def test_users_select_of_unknown_property_is_400(graph: httpx.Client) -> None:
    r = graph.get("/users", params={"$select": "id,favouriteColour"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "Request_BadRequest"


def test_users_filter_eq_and_startswith(graph: httpx.Client) -> None:
    disabled = graph.get("/users", params={"$filter": "accountEnabled eq false", "$select": "id"}).json()
    assert [u["id"] for u in disabled["value"]] == ["aaaaaaaa-u003-4000-8000-000000000000"]
    starts = graph.get("/users", params={"$filter": "startswith(userPrincipalName,'BO')"}).json()
    assert [u["id"] for u in starts["value"]] == [BOB]
    both = graph.get("/users", params={"$filter": "userType eq 'Member' and mail eq 'alice@contoso.example'"})
    assert [u["id"] for u in both.json()["value"]] == [ALICE]
    assert graph.get("/users", params={"$filter": "city gt 'x'"}).status_code == 400


def test_users_paging_uses_absolute_next_links_on_the_sandbox_host(graph: httpx.Client,
                                                                   server: SandboxServer) -> None:
    first = graph.get("/users", params={"$top": "3"}).json()
    assert first["@odata.nextLink"].startswith(f"{server.url}/v1.0/users?")
    second = graph.get(first["@odata.nextLink"]).json()
    assert len(first["value"]) == 3 and len(second["value"]) == 1
    assert "@odata.nextLink" not in second
    assert graph.get("/users", params={"$top": "1000"}).status_code == 400


def test_count_needs_consistency_level_eventual(graph: httpx.Client) -> None:
    """Without ``ConsistencyLevel: eventual`` Graph silently ignores ``$count=true`` on a list."""
    plain = graph.get("/users", params={"$count": "true"})
    assert plain.status_code == 200 and "@odata.count" not in plain.json() and len(plain.json()["value"]) == 4
    r = graph.get("/users", params={"$count": "true"}, headers={"ConsistencyLevel": "eventual"})
    assert r.json()["@odata.count"] == 4
    assert list(r.json())[:2] == ["@odata.context", "@odata.count"]


def test_user_by_upn_and_unknown_user_404(graph: httpx.Client) -> None:
    body = graph.get("/users/ALICE@contoso.example").json()
    assert body["id"] == ALICE and body["@odata.context"].endswith("#users/$entity")
    r = graph.get("/users/nobody@contoso.example")
    assert r.status_code == 404 and r.json()["error"]["code"] == "Request_ResourceNotFound"


def test_patch_disables_and_resets_password_storing_only_a_hash(graph: httpx.Client, sb: Sandbox) -> None:
    assert graph.patch(f"/users/{ALICE}", json={"accountEnabled": False}).status_code == 204
    weak = graph.patch(f"/users/{ALICE}", json={"passwordProfile": {"password": "short"}})
    assert weak.status_code == 400
    pw = "N3w-Passw0rd!x"
    r = graph.patch(f"/users/{ALICE}", json={"passwordProfile": {"password": pw,
                                                                  "forceChangePasswordNextSignIn": True}})
    assert r.status_code == 204
    t = sb.tenant(TENANT_A)
    assert t.users[ALICE]["accountEnabled"] is False
    assert t.users[ALICE]["lastPasswordChangeDateTime"].endswith("Z")
    assert [c.user_id for c in t.password_changes] == [ALICE]
    assert pw not in repr(t.__dict__) and pw not in str(t.password_changes[0].password_hash)


def test_patch_without_user_readwrite_is_403(sb: Sandbox, server: SandboxServer) -> None:
    token = get_token(server, TENANT_B).json()["access_token"]  # basic tier
    with httpx.Client(verify=server.ca_file, trust_env=False,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        r = c.patch(f"{server.url}/v1.0/users/bob@fabrikam.example", json={"accountEnabled": False})
    assert r.status_code == 403 and r.json()["error"]["code"] == "Authorization_RequestDenied"


def test_revoke_sign_in_sessions_records_the_time(graph: httpx.Client, sb: Sandbox) -> None:
    body = graph.post(f"/users/{BOB}/revokeSignInSessions").json()
    assert body == {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean", "value": True}
    assert sb.tenant(TENANT_A).users[BOB]["signInSessionsValidFromDateTime"]


def test_transitive_members_flatten_nested_groups_with_types(graph: httpx.Client) -> None:
    direct = graph.get(f"/groups/{G_OUTER}/members").json()["value"]
    assert [m["@odata.type"] for m in direct] == ["#microsoft.graph.user", "#microsoft.graph.group"]
    trans = graph.get(f"/groups/{G_OUTER}/transitiveMembers").json()["value"]
    ids = [m["id"] for m in trans]
    assert set(ids) == {ALICE, BOB, "aaaaaaaa-u003-4000-8000-000000000000",
                        "aaaaaaaa-g002-4000-8000-000000000000"}
    assert len(ids) == len(set(ids))


def test_subscribed_skus_and_organization(graph: httpx.Client) -> None:
    skus = graph.get("/subscribedSkus").json()
    assert skus["value"][0]["skuPartNumber"] == "ENTERPRISEPREMIUM"
    org = graph.get("/organization").json()
    assert org["value"][0]["id"] == TENANT_A


def test_users_delta_initial_then_changes_and_removed(graph: httpx.Client, sb: Sandbox) -> None:
    page = graph.get("/users/delta", params={"$select": "id,accountEnabled"},
                     headers={"Prefer": "odata.maxpagesize=3"}).json()
    items = list(page["value"])
    while "@odata.nextLink" in page:
        page = graph.get(page["@odata.nextLink"]).json()
        items += page["value"]
    assert len(items) == 4
    delta_link = page["@odata.deltaLink"]
    empty = graph.get(delta_link).json()
    assert empty["value"] == [] and "@odata.deltaLink" in empty
    graph.patch(f"/users/{ALICE}", json={"accountEnabled": False})
    sb.tenant(TENANT_A).delete_user(BOB)
    changed = graph.get(empty["@odata.deltaLink"]).json()["value"]
    by_id = {i["id"]: i for i in changed}
    assert by_id[ALICE] == {"id": ALICE, "accountEnabled": False}
    assert by_id[BOB] == {"id": BOB, "@removed": {"reason": "changed"}}


def test_groups_delta_reports_members_delta(graph: httpx.Client, sb: Sandbox) -> None:
    first = graph.get("/groups/delta", params={"$select": "displayName,members"}).json()
    outer = next(g for g in first["value"] if g["id"] == G_OUTER)
    assert {m["id"] for m in outer["members@delta"]} == {ALICE, "aaaaaaaa-g002-4000-8000-000000000000"}
    sb.tenant(TENANT_A).remove_member(G_OUTER, ALICE)
    nxt = graph.get(first["@odata.deltaLink"]).json()["value"]
    assert nxt[0]["id"] == G_OUTER
    assert nxt[0]["members@delta"] == [{"@odata.type": "#microsoft.graph.user", "id": ALICE,
                                        "@removed": {"reason": "deleted"}}]


def test_unknown_or_expired_delta_token_is_410(graph: httpx.Client, sb: Sandbox) -> None:
    r = graph.get("/users/delta", params={"$deltatoken": "garbage"})
    assert r.status_code == 410 and r.json()["error"]["code"] == "syncStateNotFound"
    link = graph.get("/users/delta").json()["@odata.deltaLink"]
    sb.expire_delta_tokens(TENANT_A)
    assert graph.get(link).status_code == 410


def test_every_response_carries_request_ids(graph: httpx.Client) -> None:
    r = graph.get("/users", headers={"client-request-id": "abc-123"})
    assert r.headers["client-request-id"] == "abc-123" and r.headers["request-id"]
    err = graph.get("/users/nope", headers={"client-request-id": "abc-124"})
    inner = err.json()["error"]["innerError"]
    assert inner["client-request-id"] == "abc-124" and inner["request-id"] == err.headers["request-id"]
    assert "date" in inner


