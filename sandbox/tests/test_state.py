"""Tenant state: lookups by any address, change log, nested membership."""

from __future__ import annotations

from m365sandbox.state import TenantState, hash_password, verify_password
from tests.conftest import TENANT_A, make_seed

ALICE = "aaaaaaaa-u001-4000-8000-000000000000"
BOB = "aaaaaaaa-u002-4000-8000-000000000000"


def test_find_user_by_id_upn_mail_and_alias_case_insensitively() -> None:
    t = TenantState.from_seed(make_seed(TENANT_A, "contoso.example"))
    for ref in (ALICE, "ALICE@contoso.example", "alice.alias@CONTOSO.example"):
        assert t.find_user(ref)["id"] == ALICE  # type: ignore[index]
    assert t.find_user("nobody@contoso.example") is None


def test_index_follows_updates_and_deletes() -> None:
    t = TenantState.from_seed(make_seed(TENANT_A, "contoso.example"))
    t.update_user(ALICE, {"proxyAddresses": ["SMTP:alice@contoso.example", "smtp:new@contoso.example"]})
    assert t.find_user("new@contoso.example")["id"] == ALICE  # type: ignore[index]
    assert t.find_user("alice.alias@contoso.example") is None
    assert t.delete_user(BOB) and t.find_user("bob@contoso.example") is None
    assert [c[1:3] for c in t.changes][-1] == ("user", BOB)
    assert BOB not in t.members["aaaaaaaa-g002-4000-8000-000000000000"]


def test_seed_is_not_mutated_by_live_changes() -> None:
    seed = make_seed(TENANT_A, "contoso.example")
    t = TenantState.from_seed(seed)
    t.update_user(ALICE, {"accountEnabled": False})
    assert seed.users[0]["accountEnabled"] is True


def test_transitive_members_survive_cycles() -> None:
    t = TenantState.from_seed(make_seed(TENANT_A, "contoso.example"))
    outer, inner = "aaaaaaaa-g001-4000-8000-000000000000", "aaaaaaaa-g002-4000-8000-000000000000"
    t.add_member(inner, outer)  # a cycle
    members = t.transitive_members(outer)
    assert len(members) == len(set(members)) and ALICE in members and outer in members


def test_password_hash_roundtrip_and_salted() -> None:
    a, b = hash_password("Secr3t!pass"), hash_password("Secr3t!pass")
    assert a != b and verify_password("Secr3t!pass", a) and not verify_password("other", a)
    assert "Secr3t" not in a
