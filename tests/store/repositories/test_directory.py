"""mailwarden.store.repositories.directory: bulk snapshot replace, addresses, delta tokens."""

from __future__ import annotations

from typing import Any

import pytest

from mailwarden.store import Store
from mailwarden.store.repositories import (
    addresses_of,
    clear_delta_token,
    count_directory_objects,
    get_delta_token,
    group_members,
    list_directory_objects,
    resolve_address,
    save_directory,
    scrub,
)


def _user(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "object_id": f"00000000-0000-0000-0000-{i:012d}",
        "kind": "user",
        "display_name": f"User {i}",
        "upn": f"user{i}@contoso.example",
        "mail": f"user{i}@contoso.example",
        "recipient_type": "UserMailbox",
        "account_enabled": True,
        "user_type": "Member",
        "licensed": True,
        **extra,
    }


def test_bulk_save_of_50k_users_and_their_addresses(store: Store) -> None:
    users = [_user(i) for i in range(50_000)]
    addresses = [
        {"address": f"User{i}@Contoso.example", "object_id": u["object_id"], "is_primary": True}
        for i, u in enumerate(users)
    ] + [
        {"address": f"alias{i}@contoso.example", "object_id": u["object_id"]}
        for i, u in enumerate(users[:10_000])
    ]
    with store.session() as s:
        counts = save_directory(s, "t1", users, addresses)
    assert (counts.objects, counts.addresses) == (50_000, 60_000)
    with store.session() as s:
        assert count_directory_objects(s, "t1", kind="user") == 50_000
        assert resolve_address(s, "t1", "USER49999@contoso.example") == [users[49_999]["object_id"]]
        assert [a.address for a in addresses_of(s, "t1", users[7]["object_id"])] == [
            "user7@contoso.example",
            "alias7@contoso.example",
        ]


def test_save_replaces_the_previous_directory_of_that_tenant_only(store: Store) -> None:
    with store.session() as s:
        save_directory(
            s, "t1", [_user(1), _user(2)], [{"address": "a@x", "object_id": _user(1)["object_id"]}]
        )
        save_directory(s, "t2", [_user(3)])
    with store.session() as s:
        save_directory(s, "t1", [_user(2, display_name="Renamed")])
    with store.session() as s:
        assert [o.display_name for o in list_directory_objects(s, "t1")] == ["Renamed"]
        assert resolve_address(s, "t1", "a@x") == []
        assert count_directory_objects(s, "t2") == 1


def test_duplicate_addresses_and_memberships_are_merged(store: Store) -> None:
    oid = _user(1)["object_id"]
    addresses = [
        {"address": "A@x", "object_id": oid},
        {"address": "a@x", "object_id": oid, "is_primary": True},
    ]
    memberships = [
        {"group_id": "g1", "member_id": oid},
        {"group_id": "g1", "member_id": oid},
        {"group_id": "g1", "member_id": "u-nested", "transitive": True},
    ]
    group = {"object_id": "g1", "kind": "group", "display_name": "All"}
    with store.session() as s:
        counts = save_directory(s, "t1", [_user(1), group], addresses, memberships)
    assert (counts.addresses, counts.memberships) == (1, 2)
    with store.session() as s:
        assert [a.is_primary for a in addresses_of(s, "t1", oid)] == [True]
        assert group_members(s, "t1", "g1") == sorted([oid, "u-nested"])
        assert group_members(s, "t1", "g1", transitive=False) == [oid]


def test_raw_json_is_stored_without_secret_looking_keys(store: Store) -> None:
    raw = {
        "id": "1",
        "passwordProfile": {"password": "P@ss-secret"},
        "nested": [{"clientSecret": "s", "ok": 1}],
    }
    with store.session() as s:
        save_directory(s, "t1", [_user(1, raw=raw)])
    with store.session() as s:
        (obj,) = list_directory_objects(s, "t1")
    assert obj.raw == {"id": "1", "nested": [{"ok": 1}]}
    assert scrub({"accessToken": "x", "displayName": "y"}) == {"displayName": "y"}


def test_objects_need_an_id_and_a_known_kind(store: Store) -> None:
    with store.session() as s, pytest.raises(ValueError):
        save_directory(s, "t1", [{"object_id": "x", "kind": "printer"}])


def test_delta_token_set_replace_and_clear(store: Store) -> None:
    from mailwarden.store.repositories import set_delta_token

    with store.session() as s:
        assert get_delta_token(s, "t1", "users") is None
        set_delta_token(s, "t1", "users", "https://graph/delta?token=1")
        set_delta_token(s, "t1", "users", "https://graph/delta?token=2")
        set_delta_token(s, "t2", "users", "https://graph/delta?token=other")
    with store.session() as s:
        assert get_delta_token(s, "t1", "users") == "https://graph/delta?token=2"
        clear_delta_token(s, "t1", "users")
        assert get_delta_token(s, "t1", "users") is None
        assert get_delta_token(s, "t2", "users") == "https://graph/delta?token=other"


def _dump(store: Store, tenant: str) -> tuple[set[Any], set[Any], set[Any]]:
    with store.session() as s:
        objs = {(o.object_id, o.kind, o.display_name, o.mail, o.licensed, str(o.raw))
                for o in list_directory_objects(s, tenant)}
        addrs = {(a.address, a.object_id, a.is_primary) for o in objs for a in addresses_of(s, tenant, o[0])}
        mems = {(g, m, t) for g in ("g1", "g2") for t in (False, True)
                for m in group_members(s, tenant, g, transitive=t)}
    return objs, addrs, mems


def test_incremental_changes_give_the_same_directory_as_a_full_replace(store: Store) -> None:
    from mailwarden.store.repositories import apply_directory_changes

    def obj(i: int, name: str) -> dict[str, Any]:
        return _user(i, display_name=name, raw={"id": i, "name": name})

    def addr(i: int, local: str, primary: bool = True) -> dict[str, Any]:
        return {"address": f"{local}@Contoso.example", "object_id": _user(i)["object_id"], "is_primary": primary}

    def mem(g: str, i: int, t: bool = False) -> dict[str, Any]:
        return {"group_id": g, "member_id": _user(i)["object_id"], "transitive": t}

    groups = [{"object_id": g, "kind": "group", "display_name": g} for g in ("g1", "g2")]
    before = [obj(i, f"u{i}") for i in range(5)] + groups
    with store.session() as s:
        save_directory(s, "t-inc", before, [addr(i, f"u{i}") for i in range(5)],
                       [mem("g1", 0), mem("g1", 1), mem("g2", 2), mem("g2", 3, True)])
    # final directory: user 1 deleted (its membership goes with it), user 2 renamed with an alias,
    # user 5 added to g2 (an already stored membership re-added and an absent one removed are no-ops).
    after_objs = [obj(0, "u0"), obj(2, "u2-new"), obj(3, "u3"), obj(4, "u4"), obj(5, "u5"), *groups]
    after_addrs = [addr(0, "u0"), addr(2, "u2"), addr(2, "alias2", False), addr(3, "u3"), addr(4, "u4"),
                   addr(5, "u5")]
    after_mems = [mem("g1", 0), mem("g2", 2), mem("g2", 3, True), mem("g2", 5)]
    with store.session() as s:
        counts = apply_directory_changes(
            s, "t-inc", [o for o in after_objs if o["object_id"] in {_user(2)["object_id"], _user(5)["object_id"]}],
            [_user(1)["object_id"]], after_addrs, [mem("g2", 5), mem("g2", 3, True)], [mem("g1", 9)])
        save_directory(s, "t-full", after_objs, after_addrs, after_mems)
    assert counts.objects == 2 and counts.addresses == 3
    assert _dump(store, "t-inc") == _dump(store, "t-full")
    with store.session() as s:
        assert resolve_address(s, "t-inc", "u1@contoso.example") == []
        assert group_members(s, "t-inc", "g1") == [_user(0)["object_id"]]
