"""Every property and navigation path the sandbox serves exists in Microsoft's v1.0 CSDL."""

from __future__ import annotations

import httpx
import pytest

from m365sandbox.directory import GROUP_PROPERTIES, USER_PROPERTIES
from tests.csdl import load_schema, needs_schema

pytestmark = needs_schema

ALICE = "aaaaaaaa-u001-4000-8000-000000000000"
G_OUTER = "aaaaaaaa-g001-4000-8000-000000000000"
SERVED_PATHS = [
    "organization", "subscribedSkus", "users", "users/{id}", "users/delta",
    "users/{id}/revokeSignInSessions", "groups", "groups/{id}", "groups/delta", "groups/{id}/members",
    "groups/{id}/transitiveMembers",
]


def test_schema_helper_rejects_unknown_names() -> None:
    schema = load_schema()
    assert "proxyAddresses" in schema.properties("user")
    assert "id" in schema.properties("user")  # from the entity base type
    assert not schema.has_path("users/{id}/notARealThing")
    assert schema.unknown_properties("user", {"id": 1, "bogus": 2, "@odata.type": "x"}) == {"bogus"}


@pytest.mark.parametrize("path", SERVED_PATHS)
def test_served_paths_exist_in_schema(path: str) -> None:
    assert load_schema().has_path(path)


def test_selectable_user_and_group_properties_exist() -> None:
    schema = load_schema()
    assert USER_PROPERTIES - schema.properties("user") == set()
    assert GROUP_PROPERTIES - schema.properties("group") == set()


def _all_pages(graph: httpx.Client, path: str, params: dict | None = None) -> list[dict]:
    body = graph.get(path, params=params).json()
    items = list(body["value"])
    while "@odata.nextLink" in body:
        body = graph.get(body["@odata.nextLink"]).json()
        items += body["value"]
    return items


def test_emitted_properties_exist_on_their_entity_types(graph: httpx.Client) -> None:
    schema = load_schema()
    full_user = ",".join(sorted(USER_PROPERTIES))
    checks: list[tuple[str, dict]] = []
    checks += [("user", u) for u in _all_pages(graph, "/users")]
    checks += [("user", u) for u in _all_pages(graph, "/users", {"$select": full_user})]
    checks.append(("user", graph.get(f"/users/{ALICE}").json()))
    checks += [("group", g) for g in _all_pages(graph, "/groups")]
    checks += [("group", g) for g in _all_pages(graph, "/groups/delta", {"$select": "displayName,members"})]
    checks += [("organization", o) for o in _all_pages(graph, "/organization")]
    checks += [("subscribedSku", s) for s in _all_pages(graph, "/subscribedSkus")]
    for m in _all_pages(graph, f"/groups/{G_OUTER}/transitiveMembers"):
        checks.append((m["@odata.type"].rsplit(".", 1)[-1], m))
    for entity, obj in checks:
        extra = schema.unknown_properties(entity, obj)
        assert extra == set(), f"{entity} emits {extra}"
    for sku in _all_pages(graph, "/subscribedSkus"):
        for plan in sku.get("servicePlans", []):
            assert set(plan) <= schema.complex_properties("servicePlanInfo")
        assert set(sku["prepaidUnits"]) <= schema.complex_properties("licenseUnitsDetail")
